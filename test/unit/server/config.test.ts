import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../server/config.js';

describe('loadConfig', () => {
  it('defaults to the embedded database in ./data on 127.0.0.1:8080', () => {
    const config = loadConfig({});
    expect(config.host).toBe('127.0.0.1');
    expect(config.port).toBe(8080);
    expect(config.dataDir).toMatch(/\/data$/);
    expect(config.databaseUrl).toBeUndefined();
    expect(config.publicUrl).toBe('http://127.0.0.1:8080');
    expect(config.kdfCost).toBe(15);
    expect(config.accessTokenTtlSeconds).toBe(600);
  });

  it('reads PORT, HOST, PROFFER_DATA, DATABASE_URL and PROFFER_PUBLIC_URL', () => {
    const config = loadConfig({
      PORT: '9000',
      HOST: '::1',
      PROFFER_DATA: '/var/lib/proffer',
      DATABASE_URL: 'postgres://u@db:5432/proffer',
      PROFFER_PUBLIC_URL: 'https://proffer.example/',
    });
    expect(config).toMatchObject({ port: 9000, host: '::1', dataDir: '/var/lib/proffer', databaseUrl: 'postgres://u@db:5432/proffer' });
    expect(config.publicUrl).toBe('https://proffer.example');
    expect(loadConfig({ HOST: '::1', PORT: '81' }).publicUrl).toBe('http://[::1]:81');
  });

  it.each([
    [{ PORT: 'eighty' }, /PORT must be a whole number/],
    [{ PORT: '70000' }, /PORT must be between/],
    [{ DATABASE_URL: 'mysql://x' }, /DATABASE_URL/],
    [{ PROFFER_PUBLIC_URL: 'not a url' }, /PROFFER_PUBLIC_URL/],
    [{ PROFFER_KDF_COST: '4' }, /PROFFER_KDF_COST/],
    [{ PROFFER_ACCESS_TOKEN_TTL: '-1' }, /PROFFER_ACCESS_TOKEN_TTL/],
  ])('refuses %o with a clear message', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });
});
