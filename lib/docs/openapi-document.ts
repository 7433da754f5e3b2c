import { Inject, Injectable } from '@nestjs/common';
import { ApplicationConfig } from '@nestjs/core';
import { getMetadataStorage } from 'class-validator';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata.js';
import { Dispatcher } from '../actions/dispatcher.js';
import { BINDINGS_OPTIONS, CRUD_ACTIONS } from '../bindings.constants.js';
import type { ResolvedOptions } from '../bindings.options.js';
import { HTTP_STATUS } from '../protocol/binding-error.js';
import type { BindingDefinition } from '../registry/binding-definition.js';
import { BindingRegistry } from '../registry/binding.registry.js';
import { SIGNATURE_HEADER } from '../publish/sign.js';

/** A JSON Schema object of OpenAPI 3.0. */
export type Schema = Record<string, unknown>;
/** An OpenAPI 3.0 document (the subset this module writes). */
export interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string; description?: string };
  tags: Array<{ name: string; description?: string }>;
  paths: Record<string, Record<string, unknown>>;
  components: { schemas: Record<string, Schema>; responses: Record<string, unknown> };
}

const JSON_TYPE = 'application/json';
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const body = (schema: Schema, description?: string) => ({ required: true, ...(description ? { description } : {}), content: { [JSON_TYPE]: { schema } } });
const ok = (schema: Schema, description = 'Success') => ({ description, content: { [JSON_TYPE]: { schema } } });
const ERRORS = { '4XX': { $ref: '#/components/responses/Error' }, '5XX': { $ref: '#/components/responses/Error' } };
/** Any JSON value. */
const ANY: Schema = {};

/**
 * The OpenAPI 3 document of the REST side (PROTOCOL.md section 5), built from what the
 * bindings already know: the entity metadata (exposed columns and their types), the
 * class-validator decorators of the entity or of `createDto`/`updateDto` (constraints of
 * request bodies) and the dispatcher's table (custom actions, other events). Built once,
 * on first use, after every handler is registered.
 */
@Injectable()
export class BindingsDocs {
  private built?: OpenApiDocument;

  constructor(
    @Inject(BINDINGS_OPTIONS) private readonly options: ResolvedOptions,
    private readonly registry: BindingRegistry,
    private readonly dispatcher: Dispatcher,
    private readonly appConfig: ApplicationConfig,
  ) {}

  /** The document (the same object on every call). */
  document(): OpenApiDocument {
    return (this.built ??= this.build());
  }

  /** Where the REST routes live: `/<global prefix>/<restPrefix>`. */
  basePath(): string {
    const parts = [this.appConfig.getGlobalPrefix(), this.options.restPrefix || ''].map((p) => p.replace(/^\/+|\/+$/g, '')).filter(Boolean);
    return parts.length ? `/${parts.join('/')}` : '';
  }

  private build(): OpenApiDocument {
    const docs = this.options.docs || {};
    const base = this.basePath();
    const document: OpenApiDocument = {
      openapi: '3.0.3',
      info: {
        title: docs.title ?? 'nest-bindings API',
        version: docs.version ?? '1.0.0',
        description:
          docs.description ??
          'REST side of the bindings. The same actions, and subscriptions with pushes, are served over the WebSocket; see the event names in each operation.',
      },
      tags: [],
      paths: {},
      components: { schemas: this.commonSchemas(), responses: { Error: { description: 'An error', content: { [JSON_TYPE]: { schema: ref('Error') } } } } },
    };
    const events = this.dispatcher.events();
    for (const binding of this.registry.all()) {
      const custom = events.filter((e) => e.binding === binding && !(CRUD_ACTIONS as readonly string[]).includes(e.event.slice(binding.stream.length + 1))).map((e) => e.event.slice(binding.stream.length + 1));
      this.addBinding(document, base, binding, custom);
    }
    const other = events.filter((e) => !e.binding).map((e) => e.event).sort();
    document.paths[`${base}/events`] = {
      post: {
        operationId: 'events',
        tags: ['events'],
        summary: 'Any event, as over the WebSocket',
        description: `Serves \`{event, data}\` as a WebSocket frame would be served and answers the reply data. Events other than the bindings' own: ${other.map((e) => `\`${e}\``).join(', ')}.`,
        requestBody: body(ref('EventRequest')),
        responses: { '200': ok(ANY, 'The reply data of the event'), ...ERRORS },
      },
    };
    document.tags.push({ name: 'events', description: 'Any event over HTTP, channels included' });
    if (this.options.publish) {
      document.paths[`${base}/publish`] = {
        post: {
          operationId: 'publish',
          tags: ['operations'],
          summary: 'Publish to a room or channel from a backend',
          description: `Signed with HMAC-SHA256 over \`<t>.<raw body>\`; an unsigned, wrongly signed, stale (over 60 s old or over 5 s ahead) or replayed (each signed request is accepted once) request answers 401 and sends nothing.`,
          parameters: [
            { name: SIGNATURE_HEADER, in: 'header', required: true, schema: { type: 'string', pattern: '^t=\\d+,v1=[0-9a-f]{64}$' }, description: 't=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>' },
          ],
          requestBody: body(ref('PublishRequest')),
          responses: { '200': ok(ref('PublishResult'), 'How many sockets got the message'), ...ERRORS },
        },
      };
    }
    document.paths[`${base}/admin/stats`] = {
      get: {
        operationId: 'admin.stats',
        tags: ['operations'],
        summary: 'Connections, rooms and rates (module option admin.can)',
        responses: { '200': ok(ref('AdminStats')), ...ERRORS },
      },
    };
    document.tags.push({ name: 'operations' });
    return document;
  }

  private addBinding(document: OpenApiDocument, base: string, binding: BindingDefinition, custom: string[]): void {
    const { stream } = binding;
    const tag = stream;
    const schemas = document.components.schemas;
    schemas[stream] = this.entitySchema(binding);
    schemas[`${stream}.create`] = this.writeSchema(binding, 'create');
    schemas[`${stream}.update`] = this.writeSchema(binding, 'update');
    schemas[`${stream}.page`] = {
      type: 'object',
      required: ['page', 'limit', 'count', 'rows'],
      properties: { page: { type: 'integer', minimum: 1 }, limit: { type: 'integer', minimum: 1 }, count: { type: 'integer', minimum: 0, description: 'rows matching the filter, over all pages' }, rows: { type: 'array', items: ref(stream) } },
    };
    const relations = [...binding.relations.keys()];
    const realtime = ['subscribe', 'unsubscribe'].filter((a) => binding.actions.has(a as never));
    document.tags.push({
      name: tag,
      description: `Binding ${stream}${realtime.length ? `; over the WebSocket also ${realtime.map((a) => `\`${stream}.${a}\``).join(' and ')} (pushes \`${stream}.created|updated|deleted\`)` : ''}.`,
    });
    const collection: Record<string, unknown> = {};
    const item: Record<string, unknown> = {};
    const path = `${base}/${binding.app}/${binding.name}`;
    const idParam = { name: 'id', in: 'path', required: true, schema: binding.fields.get(binding.primary.propertyName)!.kind === 'number' ? { type: 'integer' } : { type: 'string' } };
    const includeParam = relations.length
      ? [{ name: 'include', in: 'query', required: false, schema: { type: 'string' }, description: `Relations to embed, comma separated: ${relations.join(', ')}` }]
      : [];
    const op = (action: string, summary: string, extra: Record<string, unknown>) => ({ operationId: `${stream}.${action}`, tags: [tag], summary, description: `The event \`${stream}.${action}\`.`, ...extra });
    const has = (action: string) => binding.actions.has(action as never);
    if (has('list')) {
      collection.get = op('list', `List ${binding.name}`, {
        parameters: [
          { name: 'page', in: 'query', required: false, schema: { type: 'integer', minimum: 1, default: 1 } },
          { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, default: binding.pageSize }, description: `Clamped to ${binding.maxPageSize}` },
          { name: 'order', in: 'query', required: false, schema: { type: 'string' }, description: `Comma separated; a leading - sorts descending. Fields: ${[...binding.orderFields].join(', ')}`, example: `-${binding.primary.propertyName}` },
          { name: 'filter', in: 'query', required: false, schema: { type: 'string' }, description: `A JSON filter (PROTOCOL.md section 3) on: ${[...binding.filterFields.keys()].join(', ')}` },
          ...includeParam,
        ],
        responses: { '200': ok(ref(`${stream}.page`)), ...ERRORS },
      });
    }
    if (has('create')) {
      collection.post = op('create', `Create a ${binding.name}`, { requestBody: body(ref(`${stream}.create`)), responses: { '201': ok(ref(stream), 'The created object'), ...ERRORS } });
    }
    if (has('retrieve')) {
      item.get = op('retrieve', `Retrieve a ${binding.name}`, { parameters: [idParam, ...includeParam], responses: { '200': ok(ref(stream)), ...ERRORS } });
    }
    if (has('update')) {
      item.patch = op('update', `Update a ${binding.name}`, { parameters: [idParam], requestBody: body(ref(`${stream}.update`)), responses: { '200': ok(ref(stream), 'The updated object'), ...ERRORS } });
    }
    if (has('save')) {
      item.put = op('save', `Save a ${binding.name}`, { parameters: [idParam], requestBody: body(ref(`${stream}.update`)), responses: { '200': ok(ref(stream), 'The saved object'), ...ERRORS } });
    }
    if (has('delete')) {
      item.delete = op('delete', `Delete a ${binding.name}`, { parameters: [idParam], responses: { '200': ok({ type: 'object', required: ['id'], properties: { id: idParam.schema } }), ...ERRORS } });
    }
    if (Object.keys(collection).length) document.paths[path] = collection;
    if (Object.keys(item).length) document.paths[`${path}/{id}`] = item;
    if (has('search')) {
      const searchBody: Schema = {
        type: 'object',
        additionalProperties: false,
        properties: {
          q: { type: 'string', description: `Case-insensitive contains, on: ${binding.searchFields.join(', ')}` },
          page: { type: 'integer', minimum: 1 },
          limit: { type: 'integer', minimum: 1 },
          order: { type: 'object', additionalProperties: { type: 'string', enum: ['ASC', 'DESC'] } },
          filter: ref('Filter'),
          ...(relations.length ? { include: { type: 'array', items: { type: 'string', enum: relations } } } : {}),
        },
      };
      document.paths[`${path}/search`] = { post: op('search', `Search ${binding.name}`, { requestBody: body(searchBody), responses: { '200': ok(ref(`${stream}.page`)), ...ERRORS } }) };
    }
    if (has('subscribe')) {
      // Served by the SSE transport through the same subscribe action.
      document.paths[`${path}/events`] = {
        get: {
          operationId: `${stream}.events`,
          tags: [tag],
          summary: `Pushes of ${binding.name} as Server-Sent Events`,
          description: `Subscribes as \`${stream}.subscribe\` would; each push is an event with \`id: <seq>\`, \`event: <push event name>\` and the push frame as JSON data. \`Last-Event-ID\` resumes after that seq.`,
          parameters: [
            { name: 'id', in: 'query', required: false, schema: idParam.schema, description: 'One object' },
            { name: 'filter', in: 'query', required: false, schema: { type: 'string' }, description: 'A JSON filter; neither id nor filter: every change of the model' },
            { name: 'Last-Event-ID', in: 'header', required: false, schema: { type: 'integer', minimum: 0 } },
          ],
          responses: { '200': { description: 'An event stream', content: { 'text/event-stream': { schema: { type: 'string' } } } }, ...ERRORS },
        },
      };
    }
    if (has('list')) {
      // Served by the SSE transport through the list (or, with q, search) action with live: true.
      const text = (name: string, description: string) => ({ name, in: 'query', required: false, schema: { type: 'string' }, description });
      document.paths[`${path}/live`] = {
        get: {
          operationId: `${stream}.live`,
          tags: [tag],
          summary: `A live list of ${binding.name} as Server-Sent Events`,
          description: `Answers as \`${stream}.list\` with \`live: true\` would (\`${stream}.search\` when \`q\` is given): an event \`page\` with the reply, then an event \`changed\` per frame of the list; both with \`id: <seq>\`.`,
          parameters: [
            text('filter', 'A JSON filter'),
            text('order', 'Fields, comma-separated; a leading minus sorts descending'),
            text('limit', 'Rows per page'),
            text('page', 'Page number, from 1'),
            text('q', 'Search text (a live search)'),
            ...(relations.length ? [text('include', `Relations, comma-separated: ${relations.join(', ')}`)] : []),
          ],
          responses: { '200': { description: 'An event stream', content: { 'text/event-stream': { schema: { type: 'string' } } } }, ...ERRORS },
        },
      };
    }
    for (const action of custom.sort()) {
      document.paths[`${path}/${action}`] = {
        post: op(action, `${action} (custom action)`, { requestBody: { required: false, content: { [JSON_TYPE]: { schema: ANY } } }, responses: { '200': ok(ANY, 'What the handler returned'), ...ERRORS } }),
      };
    }
  }

  /** What the server sends: every exposed column, with its type. */
  private entitySchema(binding: BindingDefinition): Schema {
    const validators = validatorsOf(binding.target);
    const properties: Record<string, Schema> = {};
    const required: string[] = [];
    for (const column of binding.exposed) {
      const schema = this.columnSchema(binding, column, validators.get(column.propertyName));
      if (column.isPrimary || column.isGenerated || column.isCreateDate || column.isUpdateDate || column.isVersion || column.isDeleteDate) schema.readOnly = true;
      properties[column.propertyName] = schema;
      if (!column.isNullable) required.push(column.propertyName);
    }
    return { type: 'object', properties, ...(required.length ? { required } : {}) };
  }

  /** A create or update body: the writable columns, constrained as the validation does. */
  private writeSchema(binding: BindingDefinition, mode: 'create' | 'update'): Schema {
    const dto = mode === 'create' ? binding.options.createDto : binding.options.updateDto;
    const validators = validatorsOf(dto ?? binding.target);
    const properties: Record<string, Schema> = {};
    for (const [name, column] of binding.writable) properties[name] = this.columnSchema(binding, column, validators.get(name));
    if (mode === 'update' && binding.versionColumn) {
      properties[binding.versionColumn.propertyName] = { type: 'integer', description: 'The version the change is based on; a stale one is a conflict (409)' };
    }
    const required = mode === 'create' ? binding.required.filter((name) => name in properties) : [];
    return { type: 'object', additionalProperties: false, properties, ...(required.length ? { required } : {}) };
  }

  private columnSchema(binding: BindingDefinition, column: ColumnMetadata, rules: Rule[] = []): Schema {
    const kind = binding.allFields.get(column.propertyName)?.kind ?? 'other';
    const type = typeof column.type === 'string' ? column.type.toLowerCase() : '';
    let schema: Schema;
    switch (kind) {
      case 'number':
        schema = { type: type.includes('int') || column.generationStrategy === 'increment' || rules.some((r) => r.name === 'isInt') ? 'integer' : 'number' };
        break;
      case 'string':
        schema = { type: 'string' };
        if (column.length && Number(column.length) > 0) schema.maxLength = Number(column.length);
        if (column.enum) schema.enum = [...column.enum].map(String);
        if (type === 'uuid') schema.format = 'uuid';
        break;
      case 'boolean':
        schema = { type: 'boolean' };
        break;
      case 'date':
        schema = { type: 'string', format: type === 'date' ? 'date' : 'date-time' };
        break;
      default:
        if (type === 'simple-array' || column.isArray) schema = { type: 'array', items: type === 'simple-array' ? { type: 'string' } : {} };
        else if (['bigint', 'int8', 'decimal', 'numeric', 'money'].includes(type)) schema = { type: 'string', description: `${type}, as a string` };
        else schema = { description: type ? `${type} (any JSON)` : 'any JSON' };
    }
    applyRules(schema, rules);
    if (column.isNullable) schema.nullable = true;
    if (column.comment) schema.description = column.comment;
    return schema;
  }

  private commonSchemas(): Record<string, Schema> {
    return {
      Error: {
        type: 'object',
        required: ['error'],
        properties: {
          error: {
            type: 'object',
            required: ['code', 'message'],
            properties: {
              code: { type: 'string', enum: Object.keys(HTTP_STATUS) },
              message: { type: 'string' },
              details: { type: 'array', items: { type: 'object', required: ['message'], properties: { field: { type: 'string' }, constraint: { type: 'string' }, message: { type: 'string' } } } },
            },
          },
        },
      },
      Filter: {
        type: 'object',
        description: 'A filter: {"field": value | {"eq"|"ne"|"gt"|"gte"|"lt"|"lte"|"in"|"nin"|"like"|"ilike"|"isNull": value}}, combined with {"$or": [...]} and {"$and": [...]}',
        additionalProperties: true,
      },
      EventRequest: {
        type: 'object',
        required: ['event'],
        additionalProperties: false,
        properties: { event: { type: 'string', minLength: 1, maxLength: 200, example: 'channel.history' }, data: ANY },
      },
      PublishRequest: {
        type: 'object',
        required: ['event'],
        additionalProperties: false,
        description: 'Exactly one of room and channel',
        properties: { room: { type: 'string' }, channel: { type: 'string', maxLength: 200 }, event: { type: 'string', minLength: 1, maxLength: 200 }, data: ANY },
      },
      PublishResult: { type: 'object', required: ['delivered'], properties: { delivered: { type: 'integer', minimum: 0, description: 'sockets that got the message' } } },
      AdminStats: {
        type: 'object',
        required: ['connections', 'rooms', 'pushesPerSecond', 'requestsPerSecond', 'replay'],
        properties: {
          connections: { type: 'integer', minimum: 0 },
          rooms: { type: 'array', items: { type: 'object', required: ['room', 'subscribers'], properties: { room: { type: 'string' }, subscribers: { type: 'integer', minimum: 1 } } } },
          pushesPerSecond: { type: 'number', minimum: 0 },
          requestsPerSecond: { type: 'number', minimum: 0 },
          replay: { type: 'object', required: ['rooms', 'pushes'], properties: { rooms: { type: 'integer', minimum: 0 }, pushes: { type: 'integer', minimum: 0 } } },
        },
      },
    };
  }
}

interface Rule {
  name: string;
  constraints: any[];
}

/** The class-validator rules of a class, by property. */
function validatorsOf(target: Function): Map<string, Rule[]> {
  const rules = new Map<string, Rule[]>();
  for (const meta of getMetadataStorage().getTargetValidationMetadatas(target, '', true, false)) {
    if (!meta.name || meta.each) continue;
    let list = rules.get(meta.propertyName);
    if (!list) rules.set(meta.propertyName, (list = []));
    list.push({ name: meta.name, constraints: meta.constraints ?? [] });
  }
  return rules;
}

/** Translates the class-validator rules that JSON Schema can say. */
function applyRules(schema: Schema, rules: Rule[]): void {
  for (const { name, constraints: c } of rules) {
    switch (name) {
      case 'isInt':
        if (schema.type === 'number') schema.type = 'integer';
        break;
      case 'min':
        schema.minimum = c[0];
        break;
      case 'max':
        schema.maximum = c[0];
        break;
      case 'isPositive':
        schema.minimum = 0;
        schema.exclusiveMinimum = true;
        break;
      case 'isNegative':
        schema.maximum = 0;
        schema.exclusiveMaximum = true;
        break;
      case 'isLength':
        if (typeof c[0] === 'number') schema.minLength = c[0];
        if (typeof c[1] === 'number') schema.maxLength = c[1];
        break;
      case 'minLength':
        schema.minLength = c[0];
        break;
      case 'maxLength':
        schema.maxLength = c[0];
        break;
      case 'isNotEmpty':
        if (schema.type === 'string' && schema.minLength === undefined) schema.minLength = 1;
        break;
      case 'isIn':
        if (Array.isArray(c[0])) schema.enum = [...c[0]];
        break;
      case 'isEnum':
        schema.enum = Array.isArray(c[1]) ? [...c[1]] : Object.values(c[0] ?? {});
        break;
      case 'isEmail':
        schema.format = 'email';
        break;
      case 'isUrl':
        schema.format = 'uri';
        break;
      case 'isUuid':
        schema.format = 'uuid';
        break;
      case 'isDateString':
      case 'isIso8601':
        schema.format = 'date-time';
        break;
      case 'matches':
        if (c[0] instanceof RegExp) schema.pattern = c[0].source;
        else if (typeof c[0] === 'string') schema.pattern = c[0];
        break;
      case 'arrayMinSize':
        schema.minItems = c[0];
        break;
      case 'arrayMaxSize':
        schema.maxItems = c[0];
        break;
      default:
    }
  }
}
