// The gateway's own live-reloadable settings (reload.ts): the log level and the mirror's rate limits.

import type { Logger } from 'pino'
import type { Mirror } from '../src/mirror/mirror.ts'
import type { Reloadable } from './reload.ts'

/**
 * The root logger's level. Child loggers made without a level of their own (components, connections) read it
 * through their prototype, so existing ones follow too.
 */
export function logLevelReloadable(root: Logger): Reloadable {
  return {
    name: 'log level',
    paths: ['logLevel'],
    apply: (next) => {
      root.level = next.options.logLevel
    },
  }
}

/** Each link's catch-up rate limit; adding or removing a link needs a restart (a path this does not cover). */
export function mirrorRateReloadable(mirror: Pick<Mirror, 'setMaxBytesPerSec'>): Reloadable {
  return {
    name: 'mirror rate limits',
    paths: ['mirror.links.*.maxBytesPerSec'],
    apply: (next, running) => {
      for (const [name, link] of Object.entries(next.options.mirror.links)) {
        const before = running.options.mirror.links[name]
        if (before !== undefined && before.maxBytesPerSec !== link.maxBytesPerSec) {
          mirror.setMaxBytesPerSec(name, link.maxBytesPerSec)
        }
      }
    },
  }
}
