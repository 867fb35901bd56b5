import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../context.js';
import { toXml } from '../xml/index.js';
import type { OperationId } from './bind.js';
import { chooseMediaType } from './negotiate.js';
import { xmlRootFor } from './representations.js';

/** The media type this request will be answered in, among those the operation declares. */
export function negotiatedType(ctx: AppContext, request: FastifyRequest, operationId: OperationId): string {
  const op = ctx.contract.byId.get(operationId);
  if (!op) throw new Error(`unknown operation ${operationId}`);
  return chooseMediaType(request, op.produces);
}

/**
 * Sends a document as JSON or in its XML form, as the client's Accept asks. The XML form is the
 * one documented in docs/xml.md for the schema the operation declares.
 */
export function sendDocument(
  ctx: AppContext,
  request: FastifyRequest,
  reply: FastifyReply,
  operationId: OperationId,
  value: unknown,
  options: { status?: number; type?: string } = {},
): FastifyReply {
  const status = options.status ?? 200;
  const type = options.type ?? negotiatedType(ctx, request, operationId);
  reply.code(status).header('vary', 'Accept');
  if (type !== 'application/xml') return reply.type(type).send(value);
  const schemaRef = ctx.contract.byId.get(operationId)?.responses[String(status)]?.[type]?.$ref as string;
  const xml = toXml(value, { root: xmlRootFor(schemaRef), schemaRef, schemas: ctx.contract.xmlSchemas });
  return reply.type('application/xml; charset=utf-8').send(xml);
}
