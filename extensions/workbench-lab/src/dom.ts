/** Small DOM helpers shared by the sidebar sections. */

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  text?: string
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

export function button(
  className: string,
  text: string,
  onClick: (event: MouseEvent) => void
): HTMLButtonElement {
  const node = el('button', className, text);
  node.type = 'button';
  node.addEventListener('click', onClick);
  return node;
}

/** The message of anything thrown (WorkbenchAPIError carries the server's). */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** An inline error line; `role=alert` so screen readers announce it. */
export function errorLine(error: unknown, prefix = ''): HTMLElement {
  const node = el('p', 'wb-error', prefix + errorMessage(error));
  node.setAttribute('role', 'alert');
  return node;
}

/** "12s ago", "5m ago", "3h ago", "2d ago" for a unix time in seconds. */
export function timeAgo(unixSeconds: number, now = Date.now() / 1000): string {
  const s = Math.max(0, Math.round(now - unixSeconds));
  if (s < 60) {
    return `${s}s ago`;
  }
  if (s < 3600) {
    return `${Math.floor(s / 60)}m ago`;
  }
  if (s < 86400) {
    return `${Math.floor(s / 3600)}h ago`;
  }
  return `${Math.floor(s / 86400)}d ago`;
}
