import type { INodeProperties } from 'n8n-workflow';

const submitOps = ['submit', 'submitBatch'];
const jobOps = ['getStatus', 'download', 'cancel', 'replay'];

/** The parameters of the PDF Queue node, per operation. */
export const properties: INodeProperties[] = [
	{
		displayName: 'Operation',
		name: 'operation',
		type: 'options',
		noDataExpression: true,
		default: 'submit',
		options: [
			{
				name: 'Cancel',
				value: 'cancel',
				action: 'Cancel a job',
				description: 'Cancel a queued or running job',
			},
			{
				name: 'Download PDF',
				value: 'download',
				action: 'Download a PDF',
				description: "Download a completed job's PDF as binary data",
			},
			{
				name: 'Get Status',
				value: 'getStatus',
				action: 'Get the status of a job',
				description: "Get a job's status and progress",
			},
			{
				name: 'List Jobs',
				value: 'list',
				action: 'List jobs',
				description: 'List jobs by status, newest first',
			},
			{
				name: 'Replay Webhook',
				value: 'replay',
				action: 'Replay the webhook of a job',
				description: "Send a finished job's webhook again, with the same webhook-ID",
			},
			{
				name: 'Submit',
				value: 'submit',
				action: 'Submit a report',
				description: 'Queue one PDF report per item',
			},
			{
				name: 'Submit Batch',
				value: 'submitBatch',
				action: 'Submit a batch of reports',
				description: 'Queue one PDF report per item, all in one call',
			},
		],
	},
	{
		displayName: 'Code',
		name: 'code',
		type: 'string',
		default: '',
		required: true,
		description: "The report document's code",
		displayOptions: { show: { operation: submitOps } },
	},
	{
		displayName: 'Product ID',
		name: 'productId',
		type: 'string',
		default: '',
		required: true,
		description: "The report document's productId (which report pack renders it)",
		displayOptions: { show: { operation: submitOps } },
	},
	{
		displayName: 'Priority',
		name: 'priority',
		type: 'options',
		default: 'normal',
		options: [
			{ name: 'High', value: 'high' },
			{ name: 'Normal', value: 'normal' },
			{ name: 'Low', value: 'low' },
		],
		displayOptions: { show: { operation: submitOps } },
	},
	{
		displayName: 'Deliver',
		name: 'deliver',
		type: 'options',
		default: 'link',
		options: [
			{ name: 'Link', value: 'link', description: "The webhook carries the PDF's URL" },
			{
				name: 'Inline',
				value: 'inline',
				description: 'The webhook also carries the PDF (pdf_base64)',
			},
		],
		displayOptions: { show: { operation: submitOps } },
	},
	{
		displayName: 'Callback URL',
		name: 'callback',
		type: 'string',
		default: '',
		placeholder: '{{ $execution.resumeUrl }}',
		description:
			"Where the service sends the outcome. Empty: this n8n's PDF Queue Trigger at its default path (/webhook/pdfqueue). Use {{ $execution.resumeUrl }} before a Wait node to wait in this execution.",
		displayOptions: { show: { operation: submitOps } },
	},
	{
		displayName: 'Metadata',
		name: 'metadata',
		type: 'json',
		default: '{}',
		description: 'A JSON object (up to 4 KB) the service echoes in the webhook',
		displayOptions: { show: { operation: submitOps } },
	},
	{
		displayName: 'Idempotency Key',
		name: 'idempotencyKey',
		type: 'string',
		default: '',
		description:
			"The same key within 24 hours gets the first answer, not a second job. Empty: one derived from the execution, node and item, so n8n's Retry On Fail cannot queue twice.",
		displayOptions: { show: { operation: submitOps } },
	},
	{
		displayName: 'Job ID',
		name: 'jobId',
		type: 'string',
		default: '',
		required: true,
		placeholder: 'pdf_…',
		displayOptions: { show: { operation: jobOps } },
	},
	{
		displayName: 'Put Output File in Field',
		name: 'binaryPropertyName',
		type: 'string',
		default: 'data',
		required: true,
		hint: 'The name of the output binary field to put the PDF in',
		displayOptions: { show: { operation: ['download'] } },
	},
	{
		displayName: 'Status',
		name: 'status',
		type: 'options',
		default: 'completed',
		options: [
			{ name: 'Cancelled', value: 'cancelled' },
			{ name: 'Completed', value: 'completed' },
			{ name: 'Failed', value: 'failed' },
			{ name: 'Processing', value: 'processing' },
			{ name: 'Queued', value: 'queued' },
		],
		displayOptions: { show: { operation: ['list'] } },
	},
	{
		displayName: 'Limit',
		name: 'limit',
		type: 'number',
		typeOptions: { minValue: 1, maxValue: 100 },
		default: 50,
		description: 'Max number of results to return',
		displayOptions: { show: { operation: ['list'] } },
	},
];
