import 'reflect-metadata';
import { Controller, Get, Module, NotFoundException, Param, ParseIntPipe } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { WsAdapter } from '@nestjs/platform-ws';
import { InjectRepository, TypeOrmModule } from '@nestjs/typeorm';
import { MessageBody, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import type { Repository } from 'typeorm';
import { DataSource } from 'typeorm';
import { databaseOptions, Product, seed } from './product.js';

// The baseline a user would write by hand: a platform-ws gateway and a controller, each
// doing the same findOneBy as the bindings' retrieve.
@WebSocketGateway({ path: '/ws' })
class ProductGateway {
  constructor(@InjectRepository(Product) private readonly products: Repository<Product>) {}

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
