import type {
	IAuthenticateGeneric,
	Icon,
	ICredentialTestRequest,
	ICredentialType,
	INodeProperties,
} from 'n8n-workflow';

/** The service's URL and API key, and the webhook secret(s) the trigger checks events with. */
export class PdfQueueApi implements ICredentialType {
	name = 'pdfQueueApi';

	displayName = 'PDF Queue API';

	icon: Icon = { light: 'file:../icons/pdfqueue.svg', dark: 'file:../icons/pdfqueue.dark.svg' };

	documentationUrl = 'https://github.com/flask-pdfqueue/flask-pdfqueue#n8n';

	properties: INodeProperties[] = [
		{
			displayName: 'Service URL',
			name: 'url',
			type: 'string',
			default: 'http://127.0.0.1:8000',
			placeholder: 'https://pdf.example.com',
			description: 'Where the PDF Queue service answers (without /api)',
			required: true,
		},
		{
			displayName: 'API Key',
			name: 'apiKey',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			description: "One of the keys in the service's PDFQUEUE_API_KEYS",
			required: true,
		},
		{
			displayName: 'Webhook Secret',
			name: 'webhookSecret',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			placeholder: 'whsec_…',
			description:
				"The service's PDFQUEUE_WEBHOOK_SECRET as it prints it (whsec_…); the trigger decodes it",
		},
		{
			displayName: 'Previous Webhook Secret',
			name: 'previousWebhookSecret',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			placeholder: 'whsec_…',
			description:
				'During a secret rotation, the secret being retired: events signed with either are accepted',
		},
	];

	authenticate: IAuthenticateGeneric = {
		type: 'generic',
		properties: {
			headers: {
				'X-API-Key': '={{$credentials.apiKey}}',
			},
		},
	};

	test: ICredentialTestRequest = {
		request: {
			baseURL: '={{$credentials.url.replace(/\\/+$/, "")}}',
			url: '/api/health',
		},
	};
}
