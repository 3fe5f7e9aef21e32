import { createHash } from 'crypto';
import type { IDataObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';

import { callService } from '../shared/service';

/** The PDF Queue Trigger's default path, the callback when Submit names none. */
export const TRIGGER_PATH = 'pdfqueue';

/** The body of one submit, from the item's parameters. */
export function submitBody(context: IExecuteFunctions, i: number): IDataObject {
	const body: IDataObject = {
		code: context.getNodeParameter('code', i) as string,
		productId: context.getNodeParameter('productId', i) as string,
		priority: context.getNodeParameter('priority', i) as string,
		deliver: context.getNodeParameter('deliver', i) as string,
		callback:
			(context.getNodeParameter('callback', i) as string).trim() ||
			`${context.getInstanceBaseUrl().replace(/\/+$/, '')}/webhook/${TRIGGER_PATH}`,
	};
	const metadata = metadataOf(context, i);
	if (Object.keys(metadata).length > 0) body.metadata = metadata;
	return body;
}

function metadataOf(context: IExecuteFunctions, i: number): IDataObject {
	const raw = context.getNodeParameter('metadata', i, {}) as string | IDataObject;
	let metadata: unknown = raw;
	if (typeof raw === 'string') {
		try {
			metadata = JSON.parse(raw || '{}');
		} catch (error) {
			throw new NodeOperationError(context.getNode(), 'Metadata must be a JSON object', {
				itemIndex: i,
				description: (error as Error).message,
			});
		}
	}
	if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
		throw new NodeOperationError(context.getNode(), 'Metadata must be a JSON object', {
			itemIndex: i,
		});
	}
	return metadata as IDataObject;
}

/**
 * The Idempotency-Key of a submit: the user's, or one made of the execution, the node, its run
 * and the item. n8n's Retry On Fail repeats the same run, so a retry sends the same key and the
 * service answers the first job again instead of queueing a second.
 */
export function idempotencyKey(context: IExecuteFunctions, i: number): string {
	const given = (context.getNodeParameter('idempotencyKey', i) as string).trim();
	if (given) return given;
	const runIndex = context.getWorkflowDataProxy(i).$runIndex as number;
	const node = createHash('sha256')
		.update(`${context.getWorkflow().id ?? ''}\n${context.getNode().id}`)
		.digest('hex')
		.slice(0, 16);
	return `n8n-${context.getExecutionId()}-${node}-${runIndex}-${i}`;
}

export async function submit(context: IExecuteFunctions, i: number): Promise<IDataObject> {
	const answer = await callService(
		context,
		{
			method: 'POST',
			path: '/reports/generate-async',
			body: submitBody(context, i),
			headers: { 'Idempotency-Key': idempotencyKey(context, i) },
		},
		i,
	);
	return answer.body as IDataObject;
}

/** One call for every item; the answer holds one result (or error envelope) per item. */
export async function submitBatch(
	context: IExecuteFunctions,
	count: number,
): Promise<IDataObject[]> {
	const jobs = Array.from({ length: count }, (_, i) => submitBody(context, i));
	const answer = await callService(context, {
		method: 'POST',
		path: '/reports/generate-batch',
		body: { jobs },
		headers: { 'Idempotency-Key': idempotencyKey(context, 0) },
	});
	return (answer.body as { jobs: IDataObject[] }).jobs;
}

function jobPath(context: IExecuteFunctions, i: number, suffix = ''): string {
	const jobId = (context.getNodeParameter('jobId', i) as string).trim();
	return `/jobs/${encodeURIComponent(jobId)}${suffix}`;
}

export async function getStatus(context: IExecuteFunctions, i: number): Promise<IDataObject> {
	return (await callService(context, { method: 'GET', path: jobPath(context, i) }, i))
		.body as IDataObject;
}

export async function cancel(context: IExecuteFunctions, i: number): Promise<IDataObject> {
	return (await callService(context, { method: 'DELETE', path: jobPath(context, i) }, i))
		.body as IDataObject;
}

export async function replay(context: IExecuteFunctions, i: number): Promise<IDataObject> {
	const jobId = (context.getNodeParameter('jobId', i) as string).trim();
	const path = `/webhooks/${encodeURIComponent(jobId)}/replay`;
	return (await callService(context, { method: 'POST', path }, i)).body as IDataObject;
}

export async function list(context: IExecuteFunctions, i: number): Promise<IDataObject[]> {
	const qs = {
		status: context.getNodeParameter('status', i) as string,
		limit: context.getNodeParameter('limit', i) as number,
	};
	const answer = await callService(context, { method: 'GET', path: '/jobs', qs }, i);
	return (answer.body as { jobs: IDataObject[] }).jobs;
}

/** The PDF as n8n binary data (a Drive-stored PDF comes through the service's redirect). */
export async function download(context: IExecuteFunctions, i: number): Promise<INodeExecutionData> {
	const jobId = (context.getNodeParameter('jobId', i) as string).trim();
	const field = context.getNodeParameter('binaryPropertyName', i) as string;
	const answer = await callService(
		context,
		{ method: 'GET', path: jobPath(context, i, '/download'), binary: true },
		i,
	);
	const pdf = Buffer.from(answer.body as ArrayBuffer);
	const binary = await context.helpers.prepareBinaryData(pdf, `${jobId}.pdf`, 'application/pdf');
	return { json: { job_id: jobId, bytes: pdf.length }, binary: { [field]: binary }, pairedItem: i };
}
