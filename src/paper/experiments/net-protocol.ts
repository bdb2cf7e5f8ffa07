/**
 * The frames of the experiments' TCP loopback channel (guest-net): request = [length u32 LE]
 * [payload]; reply = [status u32 LE (0 ok, 1 error)][length u32 LE][output].
 */

/** Bytes of a request's header. */
export const FRAME_HEADER_BYTES = 4;
/** Bytes of a reply's header. */
export const REPLY_HEADER_BYTES = 8;
