import json,statistics as st,sys
S=json.load(open(sys.argv[1]))
acc={};util={}
for r in S['runs']:
    acc.setdefault(r['method'],{})[r['seed']]=r['bestOnValidation']['test']['accuracy']
    util.setdefault(r['method'],{})[r['seed']]=(r.get('utilization') or {}).get('visual')
def paired(x,y,d0=acc,scale=100):
    d=[scale*(d0[x][s]-d0[y][s]) for s in d0[x] if s in d0[y] and d0[x][s] is not None and d0[y][s] is not None]
    return f"{x} - {y}: {st.mean(d):+.2f} ± {st.stdev(d)/len(d)**0.5:.2f} (s.e.), {sum(1 for v in d if v>0)}/{len(d)} ahead, per seed {[round(v,1) for v in d]}"
for x,y in [('igm','igm-no-sam'),('igm-no-projection','igm-no-sam-no-projection'),('igm','igm-no-projection'),('igm-no-sam','igm-no-sam-no-projection'),('igm','joint'),('igm','unimodal'),('mla','joint'),('mla','unimodal'),('igm','mla'),('unimodal','joint')]:
    print(paired(x,y))
print('utilization visual paired')
for x in ['igm','mla','ogm-ge','pmr','agm']:
    print(paired(x,'joint',util,1))
