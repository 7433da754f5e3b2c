/** `shop.Product:42`: one object. */
export const instanceRoom = (stream: string, id: string | number): string => `${stream}:${id}`;
/** `shop.Product?<hash>`: one filter; equal filters hash alike and share the room. */
export const filterRoom = (stream: string, hash: string): string => `${stream}?${hash}`;
