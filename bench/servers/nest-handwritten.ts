import 'reflect-metadata';
import { Controller, Get, Module, NotFoundException, Param, ParseIntPipe } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { WsAdapter } from '@nestjs/platform-ws';
import { InjectRepository, TypeOrmModule } from '@nestjs/typeorm';
import { ConnectedSocket, MessageBody, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import type { WebSocket } from 'ws';
import type { Repository } from 'typeorm';
import { DataSource } from 'typeorm';
import { databaseOptions, Product, seed } from './product.js';

// The baseline a user would write by hand: a platform-ws gateway and a controller, each
// doing the same findOneBy as the bindings' retrieve; an update is findOneBy + save + a
// broadcast of the row to the sockets subscribed to it (no validation, scope or can).
@WebSocketGateway({ path: '/ws' })
class ProductGateway {
  private readonly rooms = new Map<number, Set<WebSocket>>();

  constructor(@InjectRepository(Product) private readonly products: Repository<Product>) {}

  @SubscribeMessage('shop.Product.subscribe')
  subscribe(@MessageBody() data: { id: number }, @ConnectedSocket() socket: WebSocket) {
    let room = this.rooms.get(data.id);
    if (!room) this.rooms.set(data.id, (room = new Set()));
    room.add(socket);
    socket.once('close', () => room.delete(socket));
    return { event: 'shop.Product.subscribe', data: { room: `shop.Product:${data.id}` } };
  }

  @SubscribeMessage('shop.Product.update')
  async update(@MessageBody() data: { id: number; price: number }) {
    const row = await this.products.findOneBy({ id: data.id });
    if (!row) return { event: 'shop.Product.update', error: { code: 'not_found' } };
    row.price = data.price;
    await this.products.save(row);
    const frame = JSON.stringify({ event: 'shop.Product.updated', room: `shop.Product:${row.id}`, data: row });
    for (const socket of this.rooms.get(row.id) ?? []) socket.send(frame);
    return { event: 'shop.Product.update', data: row };
  }

  @SubscribeMessage('shop.Product.retrieve')
  async retrieve(@MessageBody() data: { id: number }) {
    const row = await this.products.findOneBy({ id: data.id });
    return { event: 'shop.Product.retrieve', data: row };
  }
}

@Controller('products')
class ProductController {
  constructor(@InjectRepository(Product) private readonly products: Repository<Product>) {}

  @Get(':id')
  async retrieve(@Param('id', ParseIntPipe) id: number) {
    const row = await this.products.findOneBy({ id });
    if (!row) throw new NotFoundException();
    return row;
  }
}

@Module({
  imports: [TypeOrmModule.forRoot(databaseOptions(process.env.BENCH_DB!)), TypeOrmModule.forFeature([Product])],
  providers: [ProductGateway],
  controllers: [ProductController],
})
class AppModule {}

const app = await NestFactory.create(AppModule, { logger: ['error'] });
app.useWebSocketAdapter(new WsAdapter(app));
await seed(app.get(DataSource));
await app.listen(Number(process.env.PORT), '127.0.0.1');
console.log('ready');
