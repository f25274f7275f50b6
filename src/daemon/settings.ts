import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { Type } from '@sinclair/typebox';
import { InvalidConfigError } from '../errors.js';
import { checkOptions, optionTypes, type OptionSchemas } from '../node/options.js';

/** What `butter start` (and a short-lived node of `put` / `get`) runs with, once flags, environment, file and defaults are merged. */
export interface Settings {
  port: number;
  host: string;
  dataDir: string;
  bootstrap: string[];
  networkId: string | undefined;
  /** Path of the 32-byte network key file; checked by `readNetworkKey`. */
  networkKey: string | undefined;
  memoryMB: number;
  ambassador: boolean;
  /** Ask the LAN's UPnP gateway to forward the peer port (NAT traversal). */
  portMapping: boolean;
  discovery: boolean;
  /** 0: any free port, written to `<dataDir>/api.json`. */
  apiPort: number;
  /** The Prometheus endpoint on 127.0.0.1; off when absent. */
  metricsPort: number | undefined;
  logLevel: LogLevel;
}

export const logLevels = ['silent', 'error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof logLevels)[number];

/** The largest config file read: settings are a few hundred bytes. */
const maxConfigFileBytes = 64 * 1024;

const settingSchemas: OptionSchemas<Settings> = {
  port: optionTypes.integer(0, 65535),
  host: optionTypes.text(1, 255),
  dataDir: optionTypes.text(1, 4096),
  bootstrap: Type.Array(optionTypes.text(1, 300), { maxItems: 64, description: 'a list of at most 64 host:port addresses' }),
  networkId: optionTypes.optional(optionTypes.text(1, 64)),
  networkKey: optionTypes.optional(optionTypes.text(1, 4096)),
  memoryMB: Type.Number({ description: 'a number of megabytes' }),
  ambassador: optionTypes.boolean(),
  portMapping: optionTypes.boolean(),
  discovery: optionTypes.boolean(),
  apiPort: optionTypes.integer(0, 65535),
  metricsPort: optionTypes.optional(optionTypes.integer(0, 65535)),
  logLevel: Type.Union(logLevels.map((level) => Type.Literal(level)), { description: `one of ${logLevels.join(', ')}` }),
};

export function defaultSettings(): Settings {
  return {
    port: 0,
    host: '0.0.0.0',
    dataDir: join(homedir(), '.butter'),
    bootstrap: [],
    networkId: undefined,
    networkKey: undefined,
    memoryMB: 512,
    ambassador: false,
    portMapping: false,
    discovery: true,
    apiPort: 0,
    metricsPort: undefined,
    logLevel: 'error',
  };
}

/** Every setting's environment variable: `BUTTER_` and the name in capitals. */
export const environmentNames: Record<keyof Settings, string> = {
  port: 'BUTTER_PORT',
  host: 'BUTTER_HOST',
  dataDir: 'BUTTER_DATA_DIR',
  bootstrap: 'BUTTER_BOOTSTRAP',
  networkId: 'BUTTER_NETWORK_ID',
  networkKey: 'BUTTER_NETWORK_KEY',
  memoryMB: 'BUTTER_MEMORY',
  ambassador: 'BUTTER_AMBASSADOR',
  portMapping: 'BUTTER_PORT_MAPPING',
  discovery: 'BUTTER_DISCOVERY',
  apiPort: 'BUTTER_API_PORT',
  metricsPort: 'BUTTER_METRICS_PORT',
  logLevel: 'BUTTER_LOG_LEVEL',
};

const numericSettings = new Set<keyof Settings>(['port', 'memoryMB', 'apiPort', 'metricsPort']);
const booleanSettings = new Set<keyof Settings>(['ambassador', 'portMapping', 'discovery']);

/**
 * Merges the sources with the documented precedence, flag > environment >
 * config file > default, and checks the result: a bad value names its source.
 */
export function resolveSettings(flags: Partial<Settings>, environment: NodeJS.ProcessEnv, configFile: string | undefined): Settings {
  const fromFile = configFile === undefined ? {} : readConfigFile(configFile);
  const fromEnvironment = settingsFromEnvironment(environment);
  const merged = { ...defaultSettings(), ...defined(fromFile), ...defined(fromEnvironment), ...defined(flags) };
  const settings = checkOptions('', merged, settingSchemas, defaultSettings());
  return { ...settings, dataDir: resolve(settings.dataDir) };
}

function defined<T extends object>(values: T): Partial<T> {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined)) as Partial<T>;
}

/** Environment values are text: numbers and booleans are parsed, a list is comma-separated. */
function settingsFromEnvironment(environment: NodeJS.ProcessEnv): Partial<Settings> {
  const settings: Record<string, unknown> = {};
  for (const [name, variable] of Object.entries(environmentNames) as Array<[keyof Settings, string]>) {
    const text = environment[variable];
    if (text === undefined || text === '') continue;
    if (numericSettings.has(name)) settings[name] = parseNumber(variable, text);
    else if (booleanSettings.has(name)) settings[name] = parseBoolean(variable, text);
    else if (name === 'bootstrap') settings[name] = text.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '');
    else settings[name] = text;
  }
  return settings as Partial<Settings>;
}

export function parseNumber(source: string, text: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value)) throw new InvalidConfigError(`${source} must be a number, got ${JSON.stringify(text)}`);
  return value;
}

function parseBoolean(source: string, text: string): boolean {
  if (/^(1|true|yes|on)$/i.test(text)) return true;
  if (/^(0|false|no|off)$/i.test(text)) return false;
  throw new InvalidConfigError(`${source} must be true or false, got ${JSON.stringify(text)}`);
}

/** A JSON object of settings by their option names ("memoryMB", "bootstrap", …). */
function readConfigFile(path: string): Partial<Settings> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new InvalidConfigError(`cannot read config file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  if (text.length > maxConfigFileBytes) throw new InvalidConfigError(`config file ${path} is larger than ${maxConfigFileBytes} bytes`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new InvalidConfigError(`config file ${path} is not JSON: ${(error as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new InvalidConfigError(`config file ${path} must hold a JSON object`);
  // Unknown names fail here with a "did you mean", before the merge hides where they came from.
  checkOptions('config.', parsed, partialSchemas(), {});
  return parsed as Partial<Settings>;
}

function partialSchemas(): OptionSchemas<Partial<Settings>> {
  return Object.fromEntries(Object.entries(settingSchemas).map(([name, schema]) => [name, optionTypes.optional(schema)])) as OptionSchemas<Partial<Settings>>;
}
