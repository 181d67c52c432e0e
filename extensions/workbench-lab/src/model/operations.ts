import { getOperation, IOperation } from '../api';

/** How far a long server operation is, for a progress bar. */
export interface IProgress {
  kind: string;
  done?: number;
  total?: number;
  stage?: string;
}

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms));

/**
 * Follow an operation the server answered `202` with until it ends; its result, or
 * the server's error message as an `Error`.
 */
export async function followOperation<T>(
  started: Promise<IOperation<T>>,
  onProgress: (progress: IProgress) => void = () => undefined,
  intervalMs = 500
): Promise<T> {
  let op = await started;
  for (;;) {
    onProgress({ kind: op.kind, ...op.progress });
    if (op.state === 'succeeded') {
      return op.result as T;
    }
    if (op.state === 'failed') {
      const error = op.error;
      throw new Error(
        (typeof error === 'string' ? error : error?.message) ??
          `${op.kind} failed`
      );
    }
    await sleep(intervalMs);
    op = await getOperation<T>(op.id);
  }
}

/** "12 / 40 importing" from an operation's progress. */
export function describeProgress(progress: IProgress | null): string {
  if (!progress) {
    return '';
  }
  const { done, total, stage } = progress;
  const counts =
    total !== undefined && total > 0 ? `${done ?? 0} / ${total}` : '';
  return [counts, stage ?? progress.kind].filter(Boolean).join(' ');
}

/** Any thrown value as the sentence a user reads. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
