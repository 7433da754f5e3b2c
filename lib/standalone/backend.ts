// `nest-bindings/backend`: what a Node backend of the standalone server needs, with no NestJS
// loaded (node:crypto only): connect tokens for its users, and signatures of its API calls.
export { signToken, verifyToken, TOKEN_MAX_LENGTH, type TokenPayload, type TokenProblem } from './token.js';
export { signRequest, signPublish, SIGNATURE_HEADER, SIGNATURE_TOLERANCE, SIGNATURE_FUTURE } from '../publish/sign.js';
