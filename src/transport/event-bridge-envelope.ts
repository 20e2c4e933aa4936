/**
 * The event bridge's wire format: the envelope around one event, as pure `encodeEnvelope` and
 * `decodeEnvelope` functions with a version, so every bridge reads exactly what every other one writes.
 *
 * Version 2: `{ v: 2, origin, id, topic, payload }`, or `{ v: 2, origin, id, topic, codec, data }` when
 * the payload was encoded by the bridge's own serializer (`data` is those bytes as base64 text). The
 * transport's serializer turns the whole object into bytes.
 */
import { describe } from '../errors.ts';
import { checkTopic } from '../events/topics.ts';

/** The version this module writes, and the only one it reads. */
export const envelopeVersion = 2;

/**
 * The longest `origin` and `id` accepted, in characters. Both are kept for a while to recognise copies
 * of one event, so their length is bounded; Keel writes UUIDs (36 characters).
 */
export const maxOriginLength = 64;
export const maxIdLength = 64;

/** What an envelope says, once decoded. */
export type Envelope = {
  /** The sending bus (shared by every bridge of that bus). */
  readonly origin: string;
  /** The event's own random id: copies of one event carry the same one. */
  readonly id: string;
  readonly topic: string;
} & (
  | { readonly payload: unknown; readonly codec?: undefined; readonly data?: undefined }
  | { readonly codec: string; readonly data: string; readonly payload?: undefined }
);

/**
 * What decoding found: the envelope, or why the value is not one (with the origin and topic when they
 * were read before the defect, for the error's context).
 */
export type Decoded =
  | { readonly ok: true; readonly envelope: Envelope }
  | {
      readonly ok: false;
      readonly reason: string;
      readonly origin: string | undefined;
      readonly topic: string | undefined;
    };

/** The object to publish for `envelope`; the transport's serializer encodes it. */
export function encodeEnvelope(envelope: Envelope): Record<string, unknown> {
  const { origin, id, topic } = envelope;
  return envelope.codec === undefined
    ? { v: envelopeVersion, origin, id, topic, payload: envelope.payload }
    : { v: envelopeVersion, origin, id, topic, codec: envelope.codec, data: envelope.data };
}

/**
 * Reads a received value as an envelope, checking every field a receiver keeps or trusts. Never throws:
 * messages on a bridge's subjects come from anyone who may publish there, so a defect is an answer.
 * Fields it does not know are ignored, so a later minor addition does not break older readers.
 */
export function decodeEnvelope(value: unknown): Decoded {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return refuse(`it is not an event envelope; received ${describe(value)}`);
  }
  const fields = value as Record<string, unknown>;
  const { v, origin, id, topic } = fields;
  if (v !== envelopeVersion) {
    return refuse(
      typeof v === 'number'
        ? `it is an event envelope of version ${v}; this bridge reads version ${envelopeVersion}`
        : `it is not an event envelope (no version ${envelopeVersion} field "v"); received ${describe(value)}`,
    );
  }
  if (!isBoundedString(origin, maxOriginLength)) {
    return refuse(
      `its origin must be a string of 1 to ${maxOriginLength} characters; received ${describe(origin)}`,
    );
  }
  if (!isBoundedString(id, maxIdLength)) {
    return refuse(
      `its id must be a string of 1 to ${maxIdLength} characters; received ${describe(id)}`,
      origin,
    );
  }
  try {
    checkTopic('its topic', topic, false);
  } catch (error) {
    return refuse((error as Error).message, origin);
  }
  const { codec, data } = fields;
  if (codec === undefined) return { ok: true, envelope: { origin, id, topic, payload: fields.payload } };
  if (typeof codec !== 'string' || codec === '') {
    return refuse(`its codec must be a serializer's name; received ${describe(codec)}`, origin, topic);
  }
  if (typeof data !== 'string') {
    return refuse(`its data must be base64 text; received ${describe(data)}`, origin, topic);
  }
  return { ok: true, envelope: { origin, id, topic, codec, data } };
}

function isBoundedString(value: unknown, max: number): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= max;
}

function refuse(reason: string, origin?: string, topic?: string): Decoded {
  return { ok: false, reason, origin, topic };
}
