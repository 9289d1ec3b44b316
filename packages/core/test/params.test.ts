import { describeEachBackend, tf } from '@igm/test-utils';
import { expect, it } from 'vitest';
import { collectParams, emptySelectionError } from '../src';
import { describeParamGroups } from '../src/params';

describeEachBackend('collectParams', () => {
  it('keys a LayersModel by originalName and groups by prefix or predicate', () => {
    const audio = tf.layers.dense({ units: 4, name: 'audio_fc', inputShape: [3] });
    const head = tf.layers.dense({ units: 2, name: 'head_fc' });
    const model = tf.sequential({ layers: [audio, head] });
    const params = collectParams(model, {
      audio: (key) => key.startsWith('audio_'),
      head: 'head_fc',
    });
    expect([...params.keys()]).toEqual([
      'audio_fc/kernel',
      'audio_fc/bias',
      'head_fc/kernel',
      'head_fc/bias',
    ]);
    expect([...params.values()].map((p) => p.group)).toEqual(['audio', 'audio', 'head', 'head']);
    expect(params.get('head_fc/bias')!.variable).toBe(model.trainableWeights[3]!.read());
    expect([...collectParams(model).values()].every((p) => p.group === 'all')).toBe(true);
    expect(() => collectParams(model, { audio: 'audio_fc' })).toThrow(
      /"head_fc\/kernel" matches no group; "head_fc\/bias" matches no group\. Groups: audio \(prefix "audio_fc"\)/,
    );
    expect(() => collectParams(model, { a: () => true, b: 'head_fc' })).toThrow(
      /"head_fc\/kernel" matches groups a, b/,
    );
    model.dispose();
  });

  it('accepts arrays and records of variables and rejects duplicates and non-variables', () => {
    const w = tf.variable(tf.zeros([2]), true, 'enc/w_params_test');
    const v = tf.variable(tf.zeros([2]), true, 'enc2/v_params_test');
    expect(
      [...collectParams([w, v], { enc: 'enc/', enc2: 'enc2' }).values()].map((p) => [
        p.key,
        p.group,
      ]),
    ).toEqual([
      ['enc/w_params_test', 'enc'],
      ['enc2/v_params_test', 'enc2'],
    ]);
    expect([...collectParams({ 'audio/w': w }, { audio: 'audio' }).keys()]).toEqual(['audio/w']);
    expect(() => collectParams([w, w])).toThrow(/key "enc\/w_params_test" appears twice/);
    expect(() => collectParams([w, 3 as never])).toThrow(/element 1 is not a tf.Variable/);
    expect(() => collectParams(null as never)).toThrow(/Expected a LayersModel/);
    tf.dispose([w, v]);
  });
});

describeEachBackend('describeParamGroups', () => {
  it('counts tensors and ranks per group, with an example key', () => {
    const conv = tf.variable(tf.zeros([3, 3, 1, 4]), true, 'dpg_conv');
    const bias = tf.variable(tf.zeros([4]), true, 'dpg_bias');
    const dense = tf.variable(tf.zeros([4, 2]), true, 'dpg_dense');
    const params = [
      { key: 'enc/conv/kernel', variable: conv, group: 'encoder/audio' },
      { key: 'enc/conv/bias', variable: bias, group: 'encoder/audio' },
      { key: 'head/kernel', variable: dense, group: 'head' },
    ];
    expect(describeParamGroups(params)).toBe(
      'encoder/audio: 2 tensors, ranks 4 x1, 1 x1 (e.g. enc/conv/kernel); head: 1 tensor, rank 2 x1 (e.g. head/kernel)',
    );
    expect(describeParamGroups([])).toBe('(no parameters)');
    const error = emptySelectionError('demo', 'rank-3 tensors', params, 'A hint.');
    expect(error.message).toBe(
      `demo: rank-3 tensors selects no parameter, so the method would change nothing. The model's parameter groups: ${describeParamGroups(params)}. A hint.`,
    );
    tf.dispose([conv, bias, dense]);
  });
});
