// The bench's last line of defence: a tiny process that learns the process group of every
// peer the bench starts (over IPC) and, when the bench disappears without stopping them
// (SIGKILL, a crash: no 'exit' handler runs), kills those groups. Started once per bench by
// child-process.ts, in a process group of its own so a Ctrl+C does not take it down first.

const groups = new Set<number>();

process.on('message', (message: { readonly add?: number; readonly remove?: number }) => {
  if (typeof message.add === 'number') groups.add(message.add);
  if (typeof message.remove === 'number') groups.delete(message.remove);
});

process.once('disconnect', () => {
  for (const pgid of groups) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // ESRCH: already gone.
    }
  }
  process.exit(0);
});

for (const signal of ['SIGINT', 'SIGHUP'] as const) process.on(signal, () => {}); // only the bench's going away ends it
