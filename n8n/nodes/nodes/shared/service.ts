import type {
	IDataObject,
	IExecuteFunctions,
	IHttpRequestMethods,
	IN8nHttpFullResponse,
	IWebhookFunctions,
	JsonObject,
} from 'n8n-workflow';
import { NodeApiError } from 'n8n-workflow';

export const CREDENTIAL = 'pdfQueueApi';

/** One call to the service's API, under `/api`. */
export interface ServiceCall {
	method: IHttpRequestMethods;
	path: string;
	body?: IDataObject;
	qs?: IDataObject;
	headers?: IDataObject;
	/** The answer's bytes (a PDF) instead of JSON. */
	binary?: boolean;
}

type Caller = IExecuteFunctions | IWebhookFunctions;

/**
 * Call the service with the credential's API key. An error answer becomes a NodeApiError
 * that names the service's `error.code` and message, so n8n shows what the service said.
 */
export async function callService(
	context: Caller,
	call: ServiceCall,
	itemIndex = 0,
): Promise<IN8nHttpFullResponse> {
	const credentials = await context.getCredentials(CREDENTIAL);
	let response: IN8nHttpFullResponse;
	try {
		response = (await context.helpers.httpRequestWithAuthentication.call(context, CREDENTIAL, {
			method: call.method,
			baseURL: `${String(credentials.url).replace(/\/+$/, '')}/api`,
			url: call.path,
			body: call.body,
			qs: call.qs,
			headers: call.headers,
			json: !call.binary,
			encoding: call.binary ? 'arraybuffer' : undefined,
			returnFullResponse: true,
			ignoreHttpStatusErrors: true,
			// A download may be a redirect to Google Drive: the API key must not follow it.
			sendCredentialsOnCrossOriginRedirect: false,
		})) as IN8nHttpFullResponse;
	} catch (error) {
		throw new NodeApiError(context.getNode(), error as JsonObject, {
			message: 'The PDF Queue service could not be reached',
			itemIndex,
		});
	}
	if (response.statusCode >= 400) {
		const answer = errorBody(response.body);
		throw new NodeApiError(context.getNode(), answer as unknown as JsonObject, {
			message: `${answer.error.code}: ${answer.error.message}`,
			httpCode: String(response.statusCode),
			itemIndex,
		});
	}
	return response;
}

interface ErrorAnswer {
	error: { code: string; message: string };
}

/** The service's error envelope, also when the body came as bytes or is not the envelope. */
function errorBody(body: unknown): ErrorAnswer {
	let parsed: unknown = body;
	if (Buffer.isBuffer(body)) {
		try {
			parsed = JSON.parse(body.toString('utf8'));
		} catch {
			parsed = undefined;
		}
	}
	const error = (parsed as Partial<ErrorAnswer> | undefined)?.error;
	if (error && typeof error.code === 'string' && typeof error.message === 'string') {
		return { error: { code: error.code, message: error.message } };
	}
	return {
		error: { code: 'unexpected_answer', message: 'The service answered without an error body' },
	};
}
