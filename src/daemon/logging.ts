import { destination as fileDestination, pino } from 'pino';
import pretty from 'pino-pretty';
import type { Logger } from '../node/logger.js';
import type { LogLevel } from './settings.js';

/**
 * The node's logger: pino to stderr at `level` ("error" unless asked: quiet by default), as
 * JSON lines for a log collector, or as readable lines on a terminal.
 */
export function createLogger(level: LogLevel): Logger {
  const destination = process.stderr.isTTY
    ? pretty({ destination: 2, sync: true, colorize: true, ignore: 'pid,hostname', translateTime: 'SYS:HH:MM:ss.l' })
    : fileDestination({ fd: 2, sync: true });
  return pino({ level, base: { pid: process.pid } }, destination);
}
