/**
 * Hears a NATS server refuse the client certificate. Under TLS 1.3 the server judges the client's
 * certificate after the handshake has completed on the client's side, and nats.js turns the alert that
 * follows into a timeout; this probe asks once, before nats.js connects, and only of servers that verify.
 */
import { isIP, Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { onAbort } from '../../abort.ts';
import { type TlsSettings, tlsRefusal } from '../tls-options.ts';
import { TransportTlsError } from '../transport-errors.ts';

/**
 * Resolves to a TransportTlsError when the server at host:port verifies client certificates (`tls_verify`
 * in its INFO) and refuses this one, or none was given; to undefined otherwise, or when the probe learns
 * nothing before `signal` aborts (then nats.js connects and reports what it finds). Leaves no socket open.
 */
export function refusedClientCertificate(
  host: string,
  port: number,
  tls: TlsSettings,
  where: string,
  signal: AbortSignal,
): Promise<TransportTlsError | undefined> {
  return new Promise((resolve) => {
    const socket = new Socket();
    let secure: ReturnType<typeof tlsConnect> | undefined;
    let done = false;
    const finish = (result: TransportTlsError | undefined): void => {
      if (done) return;
      done = true;
      unwatch();
      secure?.destroy();
      socket.destroy();
      resolve(result);
    };
    const unwatch = onAbort(signal, () => finish(undefined));
    const lost = (): void => finish(undefined);
    socket.once('error', lost);
    socket.once('close', lost);
    let info = '';
    const onInfo = (chunk: Buffer): void => {
      info += chunk.toString('latin1');
      const end = info.indexOf('\r\n');
      if (end === -1) {
        if (info.length > 64 * 1024) finish(undefined);
        return;
      }
      socket.off('data', onInfo);
      let verifies = false;
      try {
        verifies = JSON.parse(info.slice(0, end).replace(/^INFO\s+/, '')).tls_verify === true;
      } catch {
        // not a NATS server's INFO: nats.js will say what it is
      }
      if (!verifies) {
        finish(undefined);
        return;
      }
      if (tls.cert === undefined) {
        finish(
          new TransportTlsError(
            `TLS with ${where} failed: the server verifies client certificates (tls_verify) and none was given; set tls.cert and tls.key`,
          ),
        );
        return;
      }
      // From here the TLS socket tells how it ends (the alert comes before the TCP close).
      socket.off('error', lost);
      socket.off('close', lost);
      secure = tlsConnect({
        ...tls,
        socket,
        host,
        ...(tls.servername === undefined && isIP(host) === 0 ? { servername: host } : {}),
      });
      // The server sends its refusal as an alert right after the handshake; an answer means it took us.
      secure.once('secureConnect', () => secure?.write('PING\r\n'));
      secure.once('data', () => finish(undefined));
      secure.once('error', (error) => finish(tlsRefusal(error, where)));
      secure.once('close', lost);
    };
    socket.on('data', onInfo);
    socket.connect(port, host);
  });
}
