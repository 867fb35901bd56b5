#!/usr/bin/env node
// `proffer`: the CLI is TypeScript, run through tsx (as `npm start` runs the server).
import process from 'node:process';
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./main.ts');
process.exitCode = await main(process.argv);
