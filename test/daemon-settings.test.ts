import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { InvalidConfigError } from '../src/errors.js';
import { defaultSettings, resolveSettings } from '../src/daemon/settings.js';

describe('butter start settings', () => {
  const folder = mkdtempSync(join(tmpdir(), 'butter-settings-'));
  let files = 0;
  const config = (content: unknown): string => {
    files += 1;
    const path = join(folder, `config-${files}.json`);
    writeFileSync(path, JSON.stringify(content));
    return path;
  };

  it('takes a flag over the environment, the environment over the file, the file over the default', () => {
    const file = config({ port: 1111, memoryMB: 64, networkId: 'from-file', bootstrap: ['10.0.0.1:1'] });
    const environment = { BUTTER_PORT: '2222', BUTTER_NETWORK_ID: 'from-environment', BUTTER_DISCOVERY: 'false', BUTTER_BOOTSTRAP: '10.0.0.2:2, 10.0.0.3:3' };
    const settings = resolveSettings({ port: 3333 }, environment, file);
    assert.equal(settings.port, 3333);
    assert.equal(settings.networkId, 'from-environment');
    assert.equal(settings.memoryMB, 64);
    assert.equal(settings.discovery, false);
    assert.deepEqual(settings.bootstrap, ['10.0.0.2:2', '10.0.0.3:3']);
    assert.equal(settings.logLevel, defaultSettings().logLevel);
    assert.equal(resolveSettings({}, {}, file).port, 1111);
    assert.equal(resolveSettings({}, environment, file).port, 2222);
  });

  it('maps the peer port only when asked (flag or BUTTER_PORT_MAPPING)', () => {
    assert.equal(resolveSettings({}, {}, undefined).portMapping, false);
    assert.equal(resolveSettings({}, { BUTTER_PORT_MAPPING: 'yes' }, undefined).portMapping, true);
    assert.equal(resolveSettings({ portMapping: true }, { BUTTER_PORT_MAPPING: 'off' }, undefined).portMapping, true);
    assert.throws(() => resolveSettings({}, { BUTTER_PORT_MAPPING: 'maybe' }, undefined), /BUTTER_PORT_MAPPING must be true or false/);
  });

  it('names the source of a bad value and suggests the name meant', () => {
    assert.throws(() => resolveSettings({}, { BUTTER_PORT: 'abc' }, undefined), (error: Error) => error instanceof InvalidConfigError && /BUTTER_PORT must be a number/.test(error.message));
    assert.throws(() => resolveSettings({}, { BUTTER_AMBASSADOR: 'maybe' }, undefined), /BUTTER_AMBASSADOR must be true or false/);
    assert.throws(() => resolveSettings({}, {}, config({ memoryMb: 64 })), /unknown option "config.memoryMb" \(did you mean "config.memoryMB"\?\)/);
    assert.throws(() => resolveSettings({}, {}, config({ port: 'abc' })), /config.port must be an integer from 0 to 65535/);
    assert.throws(() => resolveSettings({ logLevel: 'loud' as never }, {}, undefined), /logLevel must be one of silent, error, warn, info, debug/);
    assert.throws(() => resolveSettings({}, {}, join(folder, 'absent.json')), /cannot read config file .*absent\.json: ENOENT/);
    writeFileSync(join(folder, 'broken.json'), '{ "port": ');
    assert.throws(() => resolveSettings({}, {}, join(folder, 'broken.json')), /is not JSON/);
  });

  after(() => rmSync(folder, { recursive: true, force: true }));
});
