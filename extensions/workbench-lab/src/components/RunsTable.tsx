import * as React from 'react';
import {
  ColumnDef,
  flexRender,
  getCoreRowModel,
  useReactTable
} from '@tanstack/react-table';
import { useVirtualizer } from '@tanstack/react-virtual';

import { IRun } from '../api';
import { IRunColumn, ISort, RunsModel } from '../model/runs';
import { formatNumber, timeAgo } from './common';

const ROW_HEIGHT = 28;

function fieldOf(column: IRunColumn): string {
  return `${column.kind === 'metric' ? 'metrics' : 'params'}.${column.key}`;
}

/** The runs table: every row a run, rendered only while on screen (virtualized). */
export function RunsTable(props: {
  model: RunsModel;
  onOpen: (run: IRun) => void;
  openRunId: string | null;
}): JSX.Element {
  const { model } = props;
  const scroller = React.useRef<HTMLDivElement>(null);
  const runs = model.runs as IRun[];
  const picked = model.columns;

  const columns = React.useMemo<ColumnDef<IRun>[]>(
    () => [
      {
        id: 'select',
        header: '',
        size: 32,
        cell: ({ row }) => (
          <input
            type="checkbox"
            aria-label={`select ${row.original.run_name ?? row.original.run_id}`}
            checked={model.selected.has(row.original.run_id)}
            onClick={e => e.stopPropagation()}
            onChange={() => model.toggle(row.original.run_id)}
          />
        )
      },
      {
        id: 'attributes.run_name',
        header: 'Run',
        size: 170,
        cell: ({ row }) =>
          row.original.run_name ?? row.original.run_id.slice(0, 8)
      },
      {
        id: 'attributes.status',
        header: 'Status',
        size: 80,
        cell: ({ row }) => row.original.status.toLowerCase()
      },
      {
        id: 'attributes.start_time',
        header: 'Started',
        size: 95,
        cell: ({ row }) => timeAgo(row.original.start_time)
      },
      ...picked.map<ColumnDef<IRun>>(c => ({
        id: fieldOf(c),
        header: c.key,
        size: 105,
        meta: { numeric: c.kind === 'metric' },
        cell: ({ row }) =>
          c.kind === 'metric'
            ? formatNumber(row.original.metrics[c.key])
            : (row.original.params[c.key] ?? '')
      }))
    ],
    // model.selected changes identity on every toggle: re-render the checkboxes
    [picked, model, model.selected]
  );

  const table = useReactTable({
    data: runs,
    columns,
    getCoreRowModel: getCoreRowModel(),
    manualSorting: true,
    getRowId: run => run.run_id
  });
  const rows = table.getRowModel().rows;
  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 12
  });
  const items = virtualizer.getVirtualItems();

  // Near the end of what is loaded: ask the server for the next page.
  const last = items.length ? items[items.length - 1].index : -1;
  React.useEffect(() => {
    if (model.hasMore && !model.loading && last >= rows.length - 40) {
      void model.loadMore();
    }
  }, [last, rows.length, model, model.hasMore, model.loading]);

  const sortBy = (field: string) => {
    if (field === 'select') {
      return;
    }
    const current = model.sort;
    const next: ISort =
      current.field === field
        ? { field, direction: current.direction === 'DESC' ? 'ASC' : 'DESC' }
        : { field, direction: 'DESC' };
    void model.setSort(next);
  };
  const width = table.getTotalSize();
  const top = items.length ? items[0].start : 0;
  const bottom = items.length
    ? virtualizer.getTotalSize() - items[items.length - 1].end
    : 0;

  return (
    <div className="wb-runs-scroll" ref={scroller}>
      <table className="wb-runs-table" style={{ width }}>
        <thead>
          {table.getHeaderGroups().map(group => (
            <tr key={group.id}>
              {group.headers.map(header => {
                const sorted =
                  model.sort.field === header.id ? model.sort.direction : null;
                return (
                  <th
                    key={header.id}
                    style={{ width: header.getSize() }}
                    className={header.id === 'select' ? '' : 'wb-sortable'}
                    aria-sort={
                      sorted
                        ? sorted === 'ASC'
                          ? 'ascending'
                          : 'descending'
                        : undefined
                    }
                    data-field={header.id}
                    onClick={() => sortBy(header.id)}
                  >
                    {flexRender(
                      header.column.columnDef.header,
                      header.getContext()
                    )}
                    {sorted && (
                      <span className="wb-sort">
                        {sorted === 'ASC' ? ' ▲' : ' ▼'}
                      </span>
                    )}
                  </th>
                );
              })}
            </tr>
          ))}
        </thead>
        <tbody>
          {top > 0 && (
            <tr style={{ height: top }} aria-hidden="true">
              <td colSpan={columns.length} />
            </tr>
          )}
          {items.map(item => {
            const row = rows[item.index];
            const run = row.original;
            const classes = ['wb-run'];
            if (model.selected.has(run.run_id)) {
              classes.push('wb-checked');
            }
            if (props.openRunId === run.run_id) {
              classes.push('wb-selected');
            }
            return (
              <tr
                key={row.id}
                className={classes.join(' ')}
                data-run-id={run.run_id}
                style={{ height: ROW_HEIGHT }}
                onClick={() => props.onOpen(run)}
              >
                {row.getVisibleCells().map(cell => {
                  const numeric = (
                    cell.column.columnDef.meta as { numeric?: boolean }
                  )?.numeric;
                  return (
                    <td key={cell.id} className={numeric ? 'wb-num' : ''}>
                      {flexRender(
                        cell.column.columnDef.cell,
                        cell.getContext()
                      )}
                    </td>
                  );
                })}
              </tr>
            );
          })}
          {bottom > 0 && (
            <tr style={{ height: bottom }} aria-hidden="true">
              <td colSpan={columns.length} />
            </tr>
          )}
        </tbody>
      </table>
      {model.loading && <div className="wb-empty">Loading runs…</div>}
      {!model.loading && runs.length === 0 && (
        <div className="wb-empty">
          No runs match. Train a model from the Jobs panel.
        </div>
      )}
    </div>
  );
}
