import type { IWebhookFunctions } from 'n8n-workflow';

import { callService } from './service';

/**
 * Claim a delivery's webhook-id for this trigger on the service: true for the first claim,
 * false for every later one. The service decides atomically (one SQL insert under a primary
 * key per id and consumer), so two deliveries of one event arriving together cannot both start
 * the workflow, which n8n's static data (read, then saved after the execution) cannot promise.
 */
export async function claimWebhookId(
	context: IWebhookFunctions,
	webhookId: string,
): Promise<boolean> {
	const consumer = `${context.getWorkflow().id ?? ''}/${context.getNode().id}`;
	const answer = await callService(context, {
		method: 'POST',
		path: '/webhooks/claims',
		body: { webhook_id: webhookId, consumer },
	});
	return (answer.body as { claimed: boolean }).claimed;
}
