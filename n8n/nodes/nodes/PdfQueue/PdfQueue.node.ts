import type {
	IDataObject,
	IExecuteFunctions,
	INodeExecutionData,
	INodeType,
	INodeTypeDescription,
} from 'n8n-workflow';
import { NodeApiError, NodeConnectionTypes, NodeOperationError } from 'n8n-workflow';

import { CREDENTIAL } from '../shared/service';
import * as operations from './operations';
import { properties } from './properties';

type ItemOperation = (context: IExecuteFunctions, i: number) => Promise<IDataObject>;

const itemOperations: Record<string, ItemOperation> = {
	submit: operations.submit,
	getStatus: operations.getStatus,
	cancel: operations.cancel,
	replay: operations.replay,
};

export class PdfQueue implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'PDF Queue',
		name: 'pdfQueue',
		icon: { light: 'file:../../icons/pdfqueue.svg', dark: 'file:../../icons/pdfqueue.dark.svg' },
		group: ['transform'],
		version: 1,
		subtitle: '={{$parameter["operation"]}}',
		description: 'Queue PDF reports on a PDF Queue service, and fetch, cancel or replay them',
		defaults: { name: 'PDF Queue' },
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main],
		usableAsTool: true,
		credentials: [{ name: CREDENTIAL, required: true }],
		properties,
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const items = this.getInputData();
		const operation = this.getNodeParameter('operation', 0) as string;
		if (operation === 'submitBatch') {
			const results = await operations.submitBatch(this, items.length);
			return [results.map((json, i) => ({ json, pairedItem: i }))];
		}
		const output: INodeExecutionData[] = [];
		for (let i = 0; i < items.length; i++) {
			try {
				if (operation === 'download') {
					output.push(await operations.download(this, i));
				} else if (operation === 'list') {
					const jobs = await operations.list(this, i);
					output.push(...jobs.map((json) => ({ json, pairedItem: i })));
				} else {
					output.push({ json: await itemOperations[operation](this, i), pairedItem: i });
				}
			} catch (error) {
				if (!this.continueOnFail()) {
					// The service's errors already name its error.code; anything else gets the item.
					throw error instanceof NodeApiError
						? error
						: new NodeOperationError(this.getNode(), error as Error, { itemIndex: i });
				}
				output.push({ json: { error: (error as Error).message }, pairedItem: i });
			}
		}
		return [output];
	}
}
