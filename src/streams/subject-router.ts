import { TopicTrie } from '../topics/topic-trie.ts'
import type { StreamInfo } from '../log/types.ts'

/** Which streams an MQTT topic is appended to: every stream with a subject (topic filter) matching it. */
export class SubjectRouter {
  #trie = new TopicTrie<string>()

  constructor(streams: readonly StreamInfo[] = []) {
    this.rebuild(streams)
  }

  rebuild(streams: readonly StreamInfo[]): void {
    const trie = new TopicTrie<string>()
    for (const stream of streams) for (const subject of stream.config.subjects) trie.add(subject, stream.name)
    this.#trie = trie
  }

  /** Stream names for a topic, each once even when several of its subjects match. */
  streamsFor(topic: string): string[] {
    const names = this.#trie.match(topic)
    return names.length <= 1 ? names : [...new Set(names)]
  }
}
