import { describeEachBackend, tf } from '@igm/test-utils';
import { expect, it } from 'vitest';
import {
  adam,
  type ChainState,
  chain,
  disposeState,
  findState,
  type GradientTransform,
  IgmArgumentError,
  identity,
  type MaskedState,
  masked,
  type Param,
  type PartitionState,
  partition,
  type ScaleByAdamState,
  scale,
  sgd,
  type TraceMomentumState,
  traceMomentum,
  when,
} from '../src';

function paramMap(spec: Record<string, string>): Map<string, Param> {
  return new Map(
    Object.entries(spec).map(([key, group]) => [
      key,
      { key, group, variable: tf.variable(tf.ones([2])) },
    ]),
  );
}
const disposeParams = (ps: Map<string, Param>) => {
  for (const p of ps.values()) p.variable.dispose();
};

/** Builds `transform`, runs `check` on its state, disposes everything. */
function withState<S>(
  transform: GradientTransform<S>,
  spec: Record<string, string>,
  check: (state: S) => void,
): void {
  const ps = paramMap(spec);
  const state = transform.init(ps);
  try {
    check(state);
  } finally {
    disposeState(transform, state);
    disposeParams(ps);
  }
}

describeEachBackend('findState', () => {
  it('returns the state itself when its kind matches', () => {
    withState(traceMomentum({ momentum: 0.9 }), { a: 'audio' }, (state) => {
      expect(findState(state, 'traceMomentum')).toBe(state);
    });
  });

  it('chain: finds a member by kind wherever it sits, nested chains included', () => {
    const t = chain(scale(2), chain(identity(), sgd({ learningRate: 0.1, momentum: 0.9 })));
    withState(t, { a: 'audio' }, (state) => {
      const inner = state.members[1] as ChainState;
      const sgdState = inner.members[1] as ChainState;
      // sgd = chain(addDecayedWeights, traceMomentum, scaleByLearningRate)
      expect(findState<TraceMomentumState>(state, 'traceMomentum')).toBe(sgdState.members[1]);
      expect(findState(state, 'chain')).toBe(state);
      expect(findState(state, 'scaleByAdam')).toBeUndefined();
    });
  });

  it('partition: descends every label in label order', () => {
    const t = partition({
      audio: sgd({ learningRate: 0.1, momentum: 0.9 }),
      visual: adam({ learningRate: 1e-3 }),
    });
    withState(t, { a: 'audio', v: 'visual' }, (state: PartitionState) => {
      const visual = state.members['visual'] as ChainState;
      const audio = state.members['audio'] as ChainState;
      expect(findState<ScaleByAdamState>(state, 'scaleByAdam')).toBe(visual.members[1]);
      expect(findState(state, 'traceMomentum')).toBe(audio.members[1]);
      // Several chains: the first in label order.
      expect(findState(state, 'chain')).toBe(audio);
    });
  });

  it('masked: descends its inner state', () => {
    const t = masked(traceMomentum({ momentum: 0.5 }), ['head/*']);
    withState(t, { a: 'audio', h: 'head/audio' }, (state: MaskedState) => {
      const found = findState<TraceMomentumState>(state, 'traceMomentum');
      expect(found).toBe(state.inner);
      expect([...found!.slots.keys()]).toEqual(['h']);
      expect(findState(state, 'masked')).toBe(state);
    });
  });

  it('when: its state is its transform state, found as is and inside a chain', () => {
    const t = chain(when(traceMomentum({ momentum: 0.5 }), { stages: ['visual'] }), scale(-1));
    withState(t, { a: 'audio' }, (state) => {
      expect(findState(state, 'traceMomentum')).toBe(state.members[0]);
    });
  });

  it('every combinator nested in one composition', () => {
    const t = chain(
      when(
        partition({
          audio: masked(chain(scale(0.5), adam({ learningRate: 1e-3 })), ['a1']),
          visual: sgd({ learningRate: 0.1 }),
        }),
        { epochs: [0, 9] },
      ),
      identity(),
    );
    withState(t, { a1: 'audio', a2: 'audio', v: 'visual' }, (state) => {
      const p = state.members[0] as PartitionState;
      const m = p.members['audio'] as MaskedState;
      const inner = m.inner as ChainState;
      const adamChain = inner.members[1] as ChainState;
      expect(findState(state, 'partition')).toBe(p);
      expect(findState(state, 'masked')).toBe(m);
      const adamState = findState<ScaleByAdamState>(state, 'scaleByAdam');
      expect(adamState).toBe(adamChain.members[1]);
      expect([...adamState!.slots.keys()]).toEqual(['a1']);
      expect(findState(state, 'traceMomentum')).toBeUndefined();
    });
  });

  it('other wrappers that keep members or an inner state the same way', () => {
    const leaf = { kind: 'leaf', value: 1 };
    expect(findState({ kind: 'wrapper', inner: { kind: 'other', inner: leaf } }, 'leaf')).toBe(
      leaf,
    );
    expect(findState({ kind: 'byName', members: { x: null, y: leaf } }, 'leaf')).toBe(leaf);
    expect(findState({ members: [1, 'two', leaf] }, 'leaf')).toBe(leaf);
    // Self-references end the search instead of recursing forever.
    const loop: { kind: string; members: unknown[] } = { kind: 'loop', members: [] };
    loop.members.push(loop);
    expect(findState(loop, 'leaf')).toBeUndefined();
  });

  it('no state, a state without the kind, and a bad kind', () => {
    expect(findState(null, 'flatProjection')).toBeUndefined();
    expect(findState(undefined, 'flatProjection')).toBeUndefined();
    expect(findState({ kind: 'chain', members: [null, null] }, 'flatProjection')).toBeUndefined();
    expect(() => findState({}, '')).toThrow(IgmArgumentError);
    expect(() => findState({}, undefined as unknown as string)).toThrow(/kind=undefined/);
  });
});
