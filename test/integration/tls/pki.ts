// A throwaway PKI made with the machine's openssl: a CA, a server certificate for localhost/127.0.0.1, and client
// certificates with a chosen CN and SANs. Everything is written to a temporary directory removed after the test.

import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { onTestFinished } from 'vitest'

export interface Issued {
  certFile: string
  keyFile: string
  cert: Buffer
  key: Buffer
}

export interface Pki {
  dir: string
  caFile: string
  ca: Buffer
  /** A certificate signed by this CA (ECDSA P-256, valid one day). */
  issue(name: string, subject: string, subjectAltName?: string): Issued
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: 'pipe' })
}

/** A new CA in a new temporary directory; `name` tells two CAs apart in file names. */
export function createPki(name = 'ca'): Pki {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-pki-'))
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
  const caFile = join(dir, `${name}.crt`)
  const caKey = join(dir, `${name}.key`)
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  openssl(['req', '-x509', ...ecKey, '-subj', `/CN=${name} test CA`, '-days', '1', '-keyout', caKey, '-out', caFile])
  let serial = 1
  return {
    dir,
    caFile,
    ca: readFileSync(caFile),
    issue(certName, subject, subjectAltName) {
      const keyFile = join(dir, `${certName}.key`)
      const csr = join(dir, `${certName}.csr`)
      const certFile = join(dir, `${certName}.crt`)
      const ext = join(dir, `${certName}.ext`)
      openssl(['req', '-new', ...ecKey, '-subj', subject, '-keyout', keyFile, '-out', csr])
      writeFileSync(ext, subjectAltName === undefined ? '' : `subjectAltName=${subjectAltName}\n`)
      openssl([
        ...['x509', '-req', '-in', csr, '-CA', caFile, '-CAkey', caKey, '-set_serial', String(serial++)],
        ...['-days', '1', '-extfile', ext, '-out', certFile],
      ])
      return { certFile, keyFile, cert: readFileSync(certFile), key: readFileSync(keyFile) }
    },
  }
}

/** The server certificate every test uses: CN and SANs for localhost and 127.0.0.1. */
export function issueServer(pki: Pki, name = 'server'): Issued {
  return pki.issue(name, '/CN=localhost', 'DNS:localhost,IP:127.0.0.1')
}
