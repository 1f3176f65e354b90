import { pino, type Logger } from 'pino';

export type { Logger };

// Credentials never reach the logs: auth headers and cookies are redacted, and query strings
// (which may carry `?token=` on WebSocket upgrades) are dropped from logged URLs.
export function createLogger(level: string): Logger {
  return pino({
    level,
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers.cookie',
        'req.headers["sec-websocket-protocol"]',
        'res.headers["set-cookie"]',
        '*.password',
        '*.refresh',
        '*.access',
        '*.token',
      ],
      censor: '[redacted]',
    },
    serializers: {
      err: pino.stdSerializers.err,
      req(request: { method: string; url: string; id: string; ip?: string }) {
        const queryStart = request.url.indexOf('?');
        return {
          id: request.id,
          method: request.method,
          url: queryStart === -1 ? request.url : request.url.slice(0, queryStart),
          remoteAddress: request.ip,
        };
      },
    },
  });
}
