/**
 * An optional peer package (ioredis, @nestjs/swagger, @fastify/static, @nestjs/platform-ws),
 * or undefined when the application did not install it. Loaded only when this is called.
 */
export async function importOptional<T = unknown>(name: string): Promise<T | undefined> {
  try {
    // A specifier in a variable: TypeScript does not look for the types of a package that may be absent.
    return (await import(name)) as T;
  } catch {
    return undefined;
  }
}
