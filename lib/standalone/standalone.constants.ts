/** Injection token of the standalone server's configuration (StandaloneConfig). */
export const STANDALONE_CONFIG = Symbol('nest-bindings:standalone-config');
