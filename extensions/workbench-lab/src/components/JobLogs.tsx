import * as React from 'react';

import {
  ACTIVE_JOB_STATES,
  getJobLogs,
  IJob,
  ILogLine,
  jobLogStreamURL
} from '../api';
import { errorMessage } from '../model/operations';
import { ErrorBanner } from './common';

const MAX_LINES = 2000;

/**
 * A job's log, per rank: the tail, then (while the job runs) every new line streamed
 * by the server (server-sent events, follow mode).
 */
export function JobLogs(props: { job: IJob }): JSX.Element {
  const { job } = props;
  const [lines, setLines] = React.useState<ILogLine[]>([]);
  const [rank, setRank] = React.useState<number | 'all'>('all');
  const [follow, setFollow] = React.useState(true);
  const [error, setError] = React.useState<string | null>(null);
  const [streaming, setStreaming] = React.useState(false);
  const bottom = React.useRef<HTMLDivElement>(null);
  const active = ACTIVE_JOB_STATES.has(job.state);

  React.useEffect(() => {
    let live = true;
    setLines([]);
    setError(null);
    if (!active) {
      getJobLogs(job.id, 500).then(
        got => live && setLines(got),
        e => live && setError(errorMessage(e))
      );
      return () => {
        live = false;
      };
    }
    const source = new EventSource(jobLogStreamURL(job.id));
    setStreaming(true);
    source.onmessage = event => {
      const line = JSON.parse(event.data) as ILogLine;
      setLines(prev => [...prev, line].slice(-MAX_LINES));
    };
    source.addEventListener('end', () => {
      source.close();
      setStreaming(false);
    });
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) {
        setStreaming(false);
      }
    };
    return () => {
      live = false;
      source.close();
    };
  }, [job.id, active]);

  React.useEffect(() => {
    if (follow) {
      bottom.current?.scrollIntoView({ block: 'end' });
    }
  }, [lines, follow]);

  const ranks = [...new Set(lines.map(l => l.rank))]
    .filter(r => r !== null && r !== undefined)
    .sort((a, b) => a - b);
  const shown = rank === 'all' ? lines : lines.filter(l => l.rank === rank);
  return (
    <div className="wb-logs">
      <div className="wb-logs-bar">
        <label>
          Rank{' '}
          <select
            className="jp-mod-styled"
            value={String(rank)}
            onChange={e =>
              setRank(e.target.value === 'all' ? 'all' : Number(e.target.value))
            }
          >
            <option value="all">all</option>
            {ranks.map(r => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </label>
        <label>
          <input
            type="checkbox"
            checked={follow}
            onChange={e => setFollow(e.target.checked)}
          />{' '}
          follow
        </label>
        {streaming && <span className="wb-live">live</span>}
      </div>
      <ErrorBanner message={error} prefix="Logs: " />
      <pre className="wb-log-lines">
        {shown.map((line, i) => (
          <div key={i} className={`wb-log-line wb-stream-${line.stream}`}>
            <span className="wb-log-rank">[{line.rank ?? 'job'}]</span>{' '}
            {line.text}
          </div>
        ))}
        {shown.length === 0 && !error && (
          <div className="wb-empty">No output yet.</div>
        )}
        <div ref={bottom} />
      </pre>
    </div>
  );
}
