import { createHmac, timingSafeEqual } from 'crypto';

/** The headers Standard Webhooks signs a delivery with, and the body exactly as received. */
export interface SignedDelivery {
	id: string;
	timestamp: string;
	signature: string;
	body: Buffer;
}

/** The HMAC key of a Standard Webhooks secret (`whsec_` + base64), as the service prints it. */
export function decodeSecret(secret: string): Buffer {
	const encoded = secret.trim().replace(/^whsec_/, '');
	const key = Buffer.from(encoded, 'base64');
	// Node's base64 decoder skips what is not base64, so a round trip proves the text was.
	if (
		key.length === 0 ||
		key.toString('base64').replace(/=+$/, '') !== encoded.replace(/=+$/, '')
	) {
		throw new Error('The webhook secret is not a Standard Webhooks secret (whsec_ + base64)');
	}
	return key;
}

/**
 * The index in `keys` of the secret that signed the delivery, or -1 when none did or its
 * timestamp lies more than `toleranceSeconds` from `nowSeconds` (a replayed capture).
 */
export function signedWith(
	delivery: SignedDelivery,
	keys: Buffer[],
	toleranceSeconds: number,
	nowSeconds: number,
): number {
	if (!delivery.id || !/^\d{1,12}$/.test(delivery.timestamp)) return -1;
	if (Math.abs(nowSeconds - Number(delivery.timestamp)) > toleranceSeconds) return -1;
	const presented = delivery.signature
		.split(' ')
		.filter((part) => part.startsWith('v1,'))
		.map((part) => Buffer.from(part.slice(3), 'base64'));
	const signed = Buffer.concat([
		Buffer.from(`${delivery.id}.${delivery.timestamp}.`),
		delivery.body,
	]);
	return keys.findIndex((key) => {
		const expected = createHmac('sha256', key).update(signed).digest();
		// timingSafeEqual needs equal lengths; a length says nothing about the key.
		return presented.some(
			(candidate) => candidate.length === expected.length && timingSafeEqual(candidate, expected),
		);
	});
}
