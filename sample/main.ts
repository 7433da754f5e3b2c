import 'reflect-metadata';
import { createSampleApp } from './server.js';

async function main(): Promise<void> {
  const app = await createSampleApp();
  app.enableShutdownHooks();
  const port = Number(process.env.PORT ?? 3000);
  await app.listen(port, process.env.HOST ?? '127.0.0.1');
  const listening = (app.getHttpServer().address() as { port: number }).port;
  console.log(`Kanban sample on http://127.0.0.1:${listening}/ (WebSocket ws://127.0.0.1:${listening}/ws, REST /api/kanban/Card)`);
}

void main();
