// Shell completion, the way cobra does it for the docker CLI: the scripts
// that `berth completion bash|zsh|fish` prints call the hidden
// `berth __complete <words...> <current>` and offer what it prints, one
// candidate a line: commands, flags, and container/image/network/volume
// names asked from the daemon. The argument kinds come from each command's
// usage line (CONTAINER, IMAGE, NETWORK, VOLUME, NAME|ID).
import type { EngineClient } from '../client';
import type { FlagDef } from './flags';
import { groups, shortcuts, topLevel, findInGroup, loadCommand, loadGroup, type Command, type CommandEntry } from './registry';
import { within } from '../util/within';

export type NameKind = 'container' | 'container-running' | 'container-stopped' | 'image' | 'network' | 'volume';

/** Global flags that take a value (their value is skipped while finding the command). */
const GLOBAL_VALUE_FLAGS = new Set(['-H', '--host', '--config', '-c', '--context', '-l', '--log-level', '--tlscacert', '--tlscert', '--tlskey']);

/** Commands whose container argument is only a running (or only a stopped) one, as docker completes them. */
const RUNNING_ONLY = new Set(['exec', 'attach', 'kill', 'pause', 'stop', 'top']);
const STOPPED_ONLY = new Set(['start']);

/** Flags whose value names a daemon object. */
const FLAG_VALUE_KINDS: Record<string, NameKind> = { network: 'network', 'volumes-from': 'container', volume: 'volume' };

function kindOf(token: string, command: string): NameKind[] {
  if (/NAME\|ID/.test(token)) return ['container', 'image'];
  if (/CONTAINER/.test(token)) return [RUNNING_ONLY.has(command) ? 'container-running' : STOPPED_ONLY.has(command) ? 'container-stopped' : 'container'];
  if (/IMAGE|^\[?NAME\[:TAG|REPOSITORY/.test(token)) return ['image'];
  if (/NETWORK/.test(token)) return ['network'];
  if (/VOLUME/.test(token)) return ['volume'];
  return [];
}

/** The kinds of the n-th positional argument, from the usage line ("[CONTAINER...]" repeats). */
export function positionalKinds(cmd: Command, n: number): NameKind[] {
  const tokens = cmd.usage.split('\n')[0].split(/\s+/).filter((t) => t && t !== '[OPTIONS]' && t !== '|');
  if (n < tokens.length) return kindOf(tokens[n], cmd.name);
  const last = tokens[tokens.length - 1];
  return last && last.endsWith('...]') && !/ARG/.test(last) ? kindOf(last, cmd.name) : [];
}

function flagNames(defs: FlagDef[]): string[] {
  const out: string[] = [];
  for (const d of defs) {
    if (d.hidden) continue;
    out.push(`--${d.name}`);
    if (d.short) out.push(`-${d.short}`);
  }
  return out;
}

/** The host named by -H/--host among the leading global flags, if any. */
export function hostFromWords(words: string[]): string | undefined {
  for (let i = 0; i < words.length - 1; i++) {
    const w = words[i];
    if (!w.startsWith('-')) return undefined;
    if (w === '-H' || w === '--host') return words[i + 1];
    if (w.startsWith('--host=')) return w.slice(7);
    if (GLOBAL_VALUE_FLAGS.has(w)) i++;
  }
  return undefined;
}

/**
 * Candidates for the last word of `words` (the one being typed, maybe
 * empty), given the words before it; `names` asks the daemon.
 */
export async function complete(words: string[], names: (k: NameKind) => Promise<string[]>, globalFlags: FlagDef[]): Promise<string[]> {
  const cur = words[words.length - 1] ?? '';
  const before = words.slice(0, -1);
  const match = (c: string[]) => [...new Set(c)].filter((x) => x.startsWith(cur)).sort();
  let i = 0;
  while (i < before.length && before[i].startsWith('-')) i += GLOBAL_VALUE_FLAGS.has(before[i]) ? 2 : 1;
  if (i > before.length) return []; // the value of a global flag
  if (i === before.length) {
    if (cur.startsWith('-')) return match(flagNames(globalFlags));
    const top = [...groups.keys(), ...shortcuts.keys(), ...topLevel.keys(), 'help'];
    return match(top);
  }
  let entry: CommandEntry | undefined;
  let rest: string[];
  const first = before[i];
  if (groups.has(first)) {
    await loadGroup(first);
    if (i + 1 === before.length) return match(groups.get(first)!.commands.flatMap((c) => [c.name, ...(c.aliases ?? [])]));
    entry = findInGroup(first, before[i + 1]);
    rest = before.slice(i + 2);
  } else {
    const sc = shortcuts.get(first);
    if (sc) await loadGroup(sc[0]);
    entry = sc ? findInGroup(sc[0], sc[1]) : topLevel.get(first);
    rest = before.slice(i + 1);
  }
  if (!entry) return [];
  const cmd = await loadCommand(entry);
  if (cmd.name === 'completion') return match(['bash', 'zsh', 'fish']);
  const defs = cmd.flags ?? [];
  const byName = (w: string): FlagDef | undefined => w.startsWith('--') ? defs.find((d) => d.name === w.slice(2)) : defs.find((d) => d.short === w.slice(1));
  // Walk what was typed: positionals so far, and whether `cur` is a flag's value.
  let positional = 0;
  let valueOf: FlagDef | undefined;
  let flagsDone = false;
  for (const w of rest) {
    if (valueOf) { valueOf = undefined; continue; }
    if (!flagsDone && w === '--') { flagsDone = true; continue; }
    if (!flagsDone && w.startsWith('-') && w.length > 1) {
      const d = w.includes('=') ? undefined : byName(w);
      if (d && d.type !== 'bool') valueOf = d;
      continue;
    }
    positional++;
    // run, create, exec: after the first positional come the command's own words.
    if (cmd.interspersed === false) flagsDone = true;
  }
  if (valueOf) {
    const k = FLAG_VALUE_KINDS[valueOf.name];
    return k ? match(await names(k)) : [];
  }
  if (cur.startsWith('-') && !flagsDone) return match(flagNames(defs));
  if (cmd.interspersed === false && positional > 0) return [];
  const kinds = positionalKinds(cmd, positional);
  const out: string[] = [];
  for (const k of kinds) out.push(...(await names(k)));
  return match(out);
}

/** Names of one kind from the daemon; nothing when it cannot be reached in time. */
export async function daemonNames(client: EngineClient, kind: NameKind): Promise<string[]> {
  const ask = async (): Promise<string[]> => {
    switch (kind) {
      case 'container':
      case 'container-running':
      case 'container-stopped': {
        const list = await client.containerList({ all: kind !== 'container-running' });
        return list
          .filter((c) => kind !== 'container-stopped' || c.State !== 'running')
          .flatMap((c) => (c.Names ?? []).map((n: string) => n.replace(/^\//, '')).filter((n: string) => !n.includes('/')));
      }
      case 'image':
        return (await client.imageList()).flatMap((im) => (im.RepoTags ?? []).filter((t: string) => t !== '<none>:<none>'));
      case 'network':
        return (await client.networkList()).map((n) => n.Name as string);
      case 'volume':
        return ((await client.volumeList()).Volumes ?? []).map((v) => v.Name as string);
    }
  };
  return (await within(ask().catch(() => []), 3000)) ?? [];
}

export function completionScript(shell: string, prog: string): string | undefined {
  switch (shell) {
    case 'bash':
      return `# bash completion for ${prog}: source <(${prog} completion bash)
_${prog}_complete() {
  local line="\${COMP_LINE:0:COMP_POINT}"
  local -a words
  read -ra words <<< "$line"
  if [[ "$line" =~ [[:space:]]$ ]]; then words+=(""); fi
  local cur="\${words[\${#words[@]}-1]}"
  local IFS=$'\\n'
  local -a cands
  cands=($("\${words[0]}" __complete "\${words[@]:1}" 2>/dev/null))
  # bash splits words at ':' (image:tag): offer only what follows the last one typed.
  if [[ "$cur" == *:* && "$COMP_WORDBREAKS" == *:* ]]; then
    local pre="\${cur%"\${cur##*:}"}"
    cands=("\${cands[@]#"$pre"}")
  fi
  COMPREPLY=("\${cands[@]}")
}
complete -o default -F _${prog}_complete ${prog}
`;
    case 'zsh':
      return `#compdef ${prog}
# zsh completion for ${prog}: source <(${prog} completion zsh), after compinit
_${prog}() {
  local -a cands
  cands=("\${(@f)$(\${words[1]} __complete "\${(@)words[2,CURRENT]}" 2>/dev/null)}")
  cands=(\${cands:#})
  if (( \${#cands} == 0 )); then _files; return; fi
  compadd -Q -- "\${cands[@]}"
}
compdef _${prog} ${prog}
`;
    case 'fish':
      return `# fish completion for ${prog}: ${prog} completion fish | source
function __${prog}_complete
    set -l words (commandline -opc)
    ${prog} __complete $words[2..-1] (commandline -ct) 2>/dev/null
end
complete -c ${prog} -f -a '(__${prog}_complete)'
`;
  }
  return undefined;
}
