import type {
	IBinaryData,
	IDataObject,
	INodeType,
	INodeTypeDescription,
	IWebhookFunctions,
	IWebhookResponseData,
} from 'n8n-workflow';
import { NodeConnectionTypes } from 'n8n-workflow';

import { claimWebhookId } from '../shared/claim';
import { callService, CREDENTIAL } from '../shared/service';
import { decodeSecret, signedWith } from '../shared/signature';

const SECRET_NAMES = ['current', 'previous'];

// The service keeps no subscriptions to register or delete (each submit names its callback),
// so this trigger has no webhookMethods lifecycle.
// eslint-disable-next-line @n8n/community-nodes/webhook-lifecycle-complete
export class PdfQueueTrigger implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'PDF Queue Trigger',
		name: 'pdfQueueTrigger',
		icon: { light: 'file:../../icons/pdfqueue.svg', dark: 'file:../../icons/pdfqueue.dark.svg' },
		group: ['trigger'],
		version: 1,
		subtitle: '={{$parameter["events"].join(", ")}}',
		description:
			'Starts the workflow when a PDF Queue job completes, fails or is cancelled: signature checked, repeats dropped',
		defaults: { name: 'PDF Queue Trigger' },
		inputs: [],
		outputs: [NodeConnectionTypes.Main],
		credentials: [{ name: CREDENTIAL, required: true }],
		webhooks: [
			{
				name: 'default',
				httpMethod: 'POST',
				responseMode: 'onReceived',
				// Empty, not n8n's default: the answer is the webhookResponse the node returns.
				responseData: '',
				path: '={{$parameter["path"]}}',
				isFullPath: true,
			},
		],
		properties: [
			{
				displayName: 'Path',
				name: 'path',
				type: 'string',
				default: 'pdfqueue',
				required: true,
				description:
					"The webhook path: jobs submitted with callback {n8n URL}/webhook/{path} come here (the PDF Queue node's default is pdfqueue)",
			},
			{
				displayName: 'Events',
				name: 'events',
				type: 'multiOptions',
				default: ['completed', 'failed', 'cancelled'],
				options: [
					{ name: 'Cancelled', value: 'cancelled' },
					{ name: 'Completed', value: 'completed' },
					{ name: 'Failed', value: 'failed' },
				],
				description: 'Which outcomes start the workflow (others are acknowledged and dropped)',
			},
			{
				displayName: 'Attach PDF',
				name: 'attachPdf',
				type: 'boolean',
				default: false,
				description:
					'Whether a completed event brings the PDF as binary data: from pdf_base64 (deliver inline), otherwise downloaded with the credential',
			},
			{
				displayName: 'Put PDF in Field',
				name: 'binaryPropertyName',
				type: 'string',
				default: 'data',
				displayOptions: { show: { attachPdf: [true] } },
			},
			{
				displayName: 'Timestamp Tolerance (Seconds)',
				name: 'tolerance',
				type: 'number',
				typeOptions: { minValue: 1 },
				default: 300,
				description: 'Refuse events signed longer ago (or further ahead) than this',
			},
		],
	};

	async webhook(this: IWebhookFunctions): Promise<IWebhookResponseData> {
		const request = this.getRequestObject();
		const headers = this.getHeaderData();
		if (!request.rawBody) await request.readRawBody();
		const credentials = await this.getCredentials(CREDENTIAL);
		const keys = [credentials.webhookSecret, credentials.previousWebhookSecret]
			.filter((secret): secret is string => typeof secret === 'string' && secret.trim() !== '')
			.map(decodeSecret);
		const delivery = {
			id: String(headers['webhook-id'] ?? ''),
			timestamp: String(headers['webhook-timestamp'] ?? ''),
			signature: String(headers['webhook-signature'] ?? ''),
			body: request.rawBody ?? Buffer.alloc(0),
		};
		const tolerance = this.getNodeParameter('tolerance', 300) as number;
		const secret = signedWith(delivery, keys, tolerance, Math.floor(Date.now() / 1000));
		if (secret < 0) {
			return answer(this, 401, {
				error: {
					code: 'invalid_signature',
					message: 'The webhook signature or timestamp is not valid.',
				},
			});
		}

		const event = this.getBodyData();
		const events = this.getNodeParameter('events', []) as string[];
		if (!events.includes(String(event.status))) {
			return { webhookResponse: { received: true, ignored: `status ${String(event.status)}` } };
		}
		// The PDF first: if fetching it fails, the 503 makes the service deliver again later,
		// and the webhook-id is still unclaimed then.
		let binary: Record<string, IBinaryData> | undefined;
		try {
			binary = await attachedPdf(this, event);
			if (!(await claimWebhookId(this, delivery.id))) {
				return { webhookResponse: { received: true, duplicate: true } };
			}
		} catch (error) {
			return answer(this, 503, {
				error: { code: 'receiver_unavailable', message: (error as Error).message },
			});
		}
		const json: IDataObject = {
			...event,
			webhook: {
				id: delivery.id,
				timestamp: Number(delivery.timestamp),
				secret: SECRET_NAMES[secret],
			},
		};
		if (binary) delete json.pdf_base64; // the bytes are in the binary field
		return {
			workflowData: [[{ json, binary }]],
			webhookResponse: { received: true, webhook_id: delivery.id },
		};
	}
}

/** Answer the delivery with `status` and `body`, and run nothing. */
function answer(
	context: IWebhookFunctions,
	status: number,
	body: IDataObject,
): IWebhookResponseData {
	context.getResponseObject().status(status).json(body);
	return { noWebhookResponse: true };
}

/** The PDF of a completed event as binary data, when the node is asked to attach it. */
async function attachedPdf(
	context: IWebhookFunctions,
	event: IDataObject,
): Promise<Record<string, IBinaryData> | undefined> {
	if (!(context.getNodeParameter('attachPdf', false) as boolean) || event.status !== 'completed') {
		return undefined;
	}
	const jobId = String(event.job_id);
	let pdf: Buffer;
	if (typeof event.pdf_base64 === 'string') {
		pdf = Buffer.from(event.pdf_base64, 'base64');
	} else {
		const path = `/jobs/${encodeURIComponent(jobId)}/download`;
		const download = await callService(context, { method: 'GET', path, binary: true });
		pdf = Buffer.from(download.body as ArrayBuffer);
	}
	const field = context.getNodeParameter('binaryPropertyName', 'data') as string;
	return {
		[field]: await context.helpers.prepareBinaryData(pdf, `${jobId}.pdf`, 'application/pdf'),
	};
}
