// The library from GET /api/media, as a list of buttons; files the browser cannot play are
// shown but disabled.

export interface LibraryFile {
  readonly name: string;
  readonly url: string;
  readonly size: number;
  readonly type: string;
  /** When the server knows them (ffprobe, MEDIA_PROBE). */
  readonly durationSec?: number;
  readonly codecs?: readonly string[];
}

export async function loadLibrary(): Promise<LibraryFile[]> {
  const res = await fetch('/api/media', { cache: 'no-store' });
  if (!res.ok) throw new Error(`/api/media answered ${res.status}`);
  const body = (await res.json()) as { files: LibraryFile[] };
  return body.files.filter((f) => f.type.startsWith('video/') || f.type.startsWith('audio/'));
}

export function renderLibrary(list: HTMLElement, files: readonly LibraryFile[], probe: HTMLMediaElement, choose: (f: LibraryFile) => void): void {
  if (files.length === 0) {
    const empty = document.createElement('li');
    empty.textContent = 'No audio or video files in the media root.';
    list.replaceChildren(empty);
    return;
  }
  list.replaceChildren(
    ...files.map((file) => {
      const item = document.createElement('li');
      const button = document.createElement('button');
      button.type = 'button';
      button.dataset.file = file.name;
      const name = document.createElement('span');
      name.className = 'file-name';
      name.textContent = file.name;
      const meta = document.createElement('span');
      meta.className = 'file-meta';
      const isPlayable = probe.canPlayType(file.type) !== '';
      const facts = [file.durationSec === undefined ? '' : clock(file.durationSec), file.codecs?.join('+') ?? ''].filter(Boolean);
      meta.textContent = `${(file.size / 1e6).toFixed(1)} MB, ${file.type}${facts.length ? `, ${facts.join(', ')}` : ''}${isPlayable ? '' : ', not playable here'}`;
      button.append(name, meta);
      button.disabled = !isPlayable;
      button.addEventListener('click', () => {
        for (const other of list.querySelectorAll('button')) other.setAttribute('aria-pressed', String(other === button));
        choose(file);
      });
      item.append(button);
      return item;
    }),
  );
}

/** 75.2 -> "1:15" */
function clock(seconds: number): string {
  const whole = Math.round(seconds);
  return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, '0')}`;
}
