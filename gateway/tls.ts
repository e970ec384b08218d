// TLS for every secure listener: one secure context built from the `tls` section, client-certificate
// authentication (mTLS), the identity a verified client certificate carries, and reloading the files
// without a restart (SIGHUP: new connections get the new certificate, open ones keep theirs).

import type { PeerCertificate, SecureContextOptions, TLSSocket } from 'node:tls'
import type { ClientAuth, IdentityFrom, TlsMaterial } from './config.ts'
import type { Reloadable } from './reload.ts'

/**
 * TLS 1.3 suites, then TLS 1.2 suites with forward secrecy and AEAD only (Mozilla's "intermediate" list
 * without the finite-field DHE suites): no CBC, no RSA key exchange, no SHA-1.
 */
export const modernCiphers = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':')

/** Everything a secure listener's server is created with, except what is per-listener (noDelay). */
export interface ServerTlsOptions extends SecureContextOptions {
  requestCert: boolean
  rejectUnauthorized: boolean
  handshakeTimeout: number
}

/** The options of `tls.createServer` / `https.createServer` for the loaded material. */
export function serverTlsOptions(material: TlsMaterial, handshakeTimeoutMs: number): ServerTlsOptions {
  return {
    ...secureContextOptions(material),
    // 'optional' asks for a certificate and lets the connection in without one (or with one that does not
    // verify): such a client simply has no certificate identity and authenticates some other way.
    requestCert: material.clientAuth !== 'none',
    rejectUnauthorized: material.clientAuth === 'required',
    handshakeTimeout: handshakeTimeoutMs,
  }
}

/** What `setSecureContext` takes: certificate, key, chain, versions, ciphers and the client CAs. */
export function secureContextOptions(material: TlsMaterial): SecureContextOptions {
  const options: SecureContextOptions = {
    cert: material.ca === undefined ? material.cert : Buffer.concat([material.cert, Buffer.from('\n'), material.ca]),
    key: material.key,
    minVersion: material.minVersion,
    ciphers: material.ciphers,
    honorCipherOrder: true,
  }
  // Only the client CAs are trusted for client certificates (not Node's public bundle): a certificate any
  // public CA signed must not log in.
  if (material.clientCa !== undefined) options.ca = material.clientCa
  return options
}

/**
 * The identity of a verified client certificate: its subject CN, or the first SAN of the configured type.
 * Undefined when the client sent none, or one the client CAs do not verify.
 */
export function certificateIdentity(socket: TLSSocket, identityFrom: IdentityFrom): string | undefined {
  if (!socket.authorized) return undefined
  const peer = socket.getPeerCertificate()
  // An empty object when the client sent no certificate.
  if (peer === null || Object.keys(peer).length === 0) return undefined
  return identityOf(peer, identityFrom)
}

export function identityOf(peer: PeerCertificate, identityFrom: IdentityFrom): string | undefined {
  if (identityFrom === 'cn') {
    // A subject with several CNs is ambiguous: no identity rather than a guess.
    const cn: unknown = peer.subject?.CN
    return typeof cn === 'string' && cn !== '' ? cn : undefined
  }
  const prefix = sanPrefixes[identityFrom]
  for (const entry of splitSubjectAltName(peer.subjectaltname ?? '')) {
    if (entry.startsWith(prefix)) return entry.slice(prefix.length)
  }
  return undefined
}

const sanPrefixes: Record<Exclude<IdentityFrom, 'cn'>, string> = {
  'san-dns': 'DNS:',
  'san-email': 'email:',
  'san-uri': 'URI:',
}

// Node joins the entries with ", " and quotes (JSON-style) those that contain a comma or quote.
function splitSubjectAltName(text: string): string[] {
  const entries: string[] = []
  let i = 0
  while (i < text.length) {
    const colon = text.indexOf(':', i)
    if (colon < 0) break
    const type = text.slice(i, colon + 1)
    let value: string
    let next: number
    if (text[colon + 1] === '"') {
      const end = findClosingQuote(text, colon + 2)
      value = JSON.parse(text.slice(colon + 1, end + 1)) as string
      next = end + 1
    } else {
      const end = text.indexOf(', ', colon + 1)
      next = end < 0 ? text.length : end
      value = text.slice(colon + 1, next)
    }
    entries.push(type + value)
    i = next + 2
  }
  return entries
}

function findClosingQuote(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    if (text[i] === '\\') i++
    else if (text[i] === '"') return i
  }
  return text.length - 1
}

/** What reloads TLS: Listeners#reloadTls. */
export interface TlsReloadTarget {
  reloadTls(material: TlsMaterial): void
}

/**
 * SIGHUP: the certificate files are read again on every reload (a renewed certificate keeps its file name), and
 * the TLS listeners serve them from the next handshake on. tls.clientAuth and tls.handshakeTimeoutMs are fixed at
 * start, so the reloader reports a change to them as needing a restart.
 */
export function tlsReloadable(target: TlsReloadTarget): Reloadable {
  return {
    name: 'TLS certificates',
    paths: ['tls.certFile', 'tls.keyFile', 'tls.caFile', 'tls.clientCaFile', 'tls.minVersion', 'tls.ciphers'],
    always: true,
    apply(next) {
      // Null when no TLS listener is on; the set of listeners changes only with a restart.
      if (next.tls !== null) target.reloadTls(next.tls)
    },
  }
}

export type { ClientAuth, IdentityFrom }
