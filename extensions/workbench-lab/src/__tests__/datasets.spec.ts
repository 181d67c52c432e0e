import { describeDataset } from '../api';

describe('describeDataset', () => {
  it('names the version, a short digest and the split sizes', () => {
    const line = describeDataset({
      name: 'digits-labels@v3',
      digest: '0123456789abcdef0123456789abcdef',
      context: 'training',
      profile: { train_samples: 1347, test_samples: 450 }
    });
    expect(line).toBe('digits-labels@v3 · 0123456789ab · train 1347, test 450');
  });

  it('leaves out sizes it was not given', () => {
    const line = describeDataset({
      name: 'pets',
      digest: 'abc',
      context: null,
      profile: {}
    });
    expect(line).toBe('pets · abc');
  });
});
