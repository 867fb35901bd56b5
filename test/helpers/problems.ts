import type { LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';

export interface Problem {
  type: string;
  status: number;
  detail: string;
  errors?: { in: string; pointer: string; message: string; rule?: string }[];
}

/** Asserts an RFC 9457 problem with this status (and, if given, an error at this pointer); returns it. */
export function expectProblem(response: LightMyRequestResponse, status: number, pointer?: string): Problem {
  expect(response.statusCode, response.body).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  const problem = response.json<Problem>();
  expect(problem.status).toBe(status);
  expect(problem.type).toMatch(/^https:\/\/proffer\.dev\/problems\//);
  expect(problem.detail).toEqual(expect.any(String));
  expect(response.body).not.toMatch(/\bat .*\.(ts|js):\d+/); // no stack trace
  if (pointer !== undefined) {
    expect(problem.errors, response.body).toEqual(expect.arrayContaining([expect.objectContaining({ pointer })]));
  }
  return problem;
}
