import * as React from 'react';
import { ISignal } from '@lumino/signaling';

/** Re-render the calling component whenever `signal` emits. */
export function useSignal(signal: ISignal<unknown, unknown>): void {
  const [, setTick] = React.useState(0);
  React.useEffect(() => {
    const bump = () => setTick(t => t + 1);
    signal.connect(bump);
    return () => {
      signal.disconnect(bump);
    };
  }, [signal]);
}

/** Resolve a promise into state: [value, error]. */
export function usePromise<T>(
  make: () => Promise<T>,
  deps: React.DependencyList
): [T | undefined, unknown] {
  const [value, setValue] = React.useState<T | undefined>(undefined);
  const [error, setError] = React.useState<unknown>(null);
  React.useEffect(() => {
    let live = true;
    setError(null);
    make().then(
      v => live && setValue(v),
      e => live && setError(e ?? 'failed')
    );
    return () => {
      live = false;
    };
  }, deps);
  return [value, error];
}

/** A service that is down or unreachable (not a bad request): the hint applies. */
function isOutage(error: unknown): boolean {
  const status = (error as { status?: unknown })?.status;
  return typeof status !== 'number' || status === 0 || status >= 500;
}

/**
 * A failed request: the server's own words, and (when the service is down or
 * unreachable) what to do about it.
 */
export function ErrorBanner(props: {
  message: unknown;
  prefix?: string;
  hint?: string;
}): JSX.Element | null {
  const { message } = props;
  if (!message) {
    return null;
  }
  const text = message instanceof Error ? message.message : String(message);
  return (
    <div className="wb-error" role="alert">
      {props.prefix ?? ''}
      {text}
      {props.hint && isOutage(message) && (
        <div className="wb-hint">{props.hint}</div>
      )}
    </div>
  );
}

export function Badge(props: { state: string }): JSX.Element {
  return (
    <span className={`wb-badge wb-state-${props.state.toLowerCase()}`}>
      {props.state.toLowerCase()}
    </span>
  );
}

/** A determinate bar when the total is known, an indeterminate one otherwise. */
export function ProgressBar(props: {
  done?: number;
  total?: number;
  label: string;
}): JSX.Element {
  const { done, total } = props;
  const known = total !== undefined && total > 0;
  return (
    <div className="wb-progress" aria-label={props.label}>
      <progress
        max={known ? total : undefined}
        value={known ? (done ?? 0) : undefined}
      />
      <span className="wb-progress-label">{props.label}</span>
    </div>
  );
}

export function Button(
  props: React.ButtonHTMLAttributes<HTMLButtonElement> & { accent?: boolean }
): JSX.Element {
  const { accent, className, ...rest } = props;
  const classes = ['jp-mod-styled', 'wb-button'];
  if (accent) {
    classes.push('jp-mod-accept');
  }
  if (className) {
    classes.push(className);
  }
  return <button type="button" className={classes.join(' ')} {...rest} />;
}

/** "5 s ago", "3 min ago", "2 h ago", or the date. Accepts seconds or milliseconds. */
export function timeAgo(
  epoch: number | null | undefined,
  now = Date.now()
): string {
  if (!epoch) {
    return '';
  }
  const ms = epoch < 1e12 ? epoch * 1000 : epoch;
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) {
    return `${s} s ago`;
  }
  if (s < 3600) {
    return `${Math.round(s / 60)} min ago`;
  }
  if (s < 86400) {
    return `${Math.round(s / 3600)} h ago`;
  }
  return new Date(ms).toLocaleDateString();
}

/** A metric value in a table cell: 3 significant decimals, integers kept. */
export function formatNumber(value: number | null | undefined): string {
  if (value === null || value === undefined || Number.isNaN(value)) {
    return '';
  }
  if (Number.isInteger(value) && Math.abs(value) < 1e9) {
    return String(value);
  }
  const abs = Math.abs(value);
  return abs !== 0 && (abs < 1e-3 || abs >= 1e6)
    ? value.toExponential(3)
    : value.toFixed(3);
}

/** A section of a panel with a heading. */
export function Section(props: {
  title: string;
  actions?: React.ReactNode;
  children: React.ReactNode;
  className?: string;
}): JSX.Element {
  return (
    <section className={`wb-panel-section ${props.className ?? ''}`}>
      <header className="wb-panel-section-head">
        <h3>{props.title}</h3>
        {props.actions && <div className="wb-actions">{props.actions}</div>}
      </header>
      {props.children}
    </section>
  );
}
