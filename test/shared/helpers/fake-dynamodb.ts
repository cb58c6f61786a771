/**
 * A fake DynamoDB client for the limit store's tests. It is NOT a DynamoDB emulator: it knows
 * only the exact update and condition expressions `DynamoDbLimitStore` sends (anything else
 * throws, so a changed expression fails loudly), and applies each command atomically, the way
 * DynamoDB applies one UpdateItem: condition, then update, or ConditionalCheckFailedException
 * with the old item when `ReturnValuesOnConditionCheckFailure` is `ALL_OLD`. Calls yield to the
 * event loop first so concurrent callers interleave.
 */
import {
  ConditionalCheckFailedException,
  GetItemCommand,
  UpdateItemCommand,
  type AttributeValue,
  type UpdateItemCommandInput,
} from '@aws-sdk/client-dynamodb';

type Item = Record<string, AttributeValue>;

const num = (value: AttributeValue | undefined): number | undefined =>
  value && 'N' in value && value.N !== undefined ? Number(value.N) : undefined;

function clone<T>(value: T): T {
  return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}

export class FakeDynamoDb {
  readonly items = new Map<string, Item>();
  readonly calls: (UpdateItemCommandInput | { get: string })[] = [];

  async send(command: unknown): Promise<Record<string, unknown>> {
    await new Promise((resolve) => setImmediate(resolve));
    if (command instanceof GetItemCommand) {
      const pk = command.input.Key?.pk?.S ?? '';
      this.calls.push({ get: pk });
      return { Item: clone(this.items.get(pk)) };
    }
    if (!(command instanceof UpdateItemCommand)) throw new Error('fake DynamoDB: unsupported command');
    const input = command.input;
    this.calls.push(input);
    const pk = input.Key?.pk?.S ?? '';
    const old = this.items.get(pk);
    const item: Item = clone(old) ?? { pk: { S: pk } };
    const values = input.ExpressionAttributeValues ?? {};
    const names = input.ExpressionAttributeNames ?? {};
    const v = (name: string) => num(values[name]);
    const slots = () => (item.slots && 'M' in item.slots ? item.slots.M : undefined);
    const job = names['#job'] ?? '';
    let holds: boolean;
    switch (input.ConditionExpression) {
      case undefined:
        holds = true;
        break;
      case 'tat >= :now AND tat <= :latest': {
        const tat = num(item.tat);
        holds = tat !== undefined && tat >= (v(':now') ?? 0) && tat <= (v(':latest') ?? 0);
        break;
      }
      case 'attribute_not_exists(tat) OR tat < :now': {
        const tat = num(item.tat);
        holds = tat === undefined || tat < (v(':now') ?? 0);
        break;
      }
      case 'attribute_exists(slots) AND size(slots) < :max AND attribute_not_exists(slots.#job)': {
        const map = slots();
        holds = map !== undefined && Object.keys(map).length < (v(':max') ?? 0) && map[job] === undefined;
        break;
      }
      case 'attribute_exists(slots.#job)':
        holds = slots()?.[job] !== undefined;
        break;
      default:
        throw new Error(`fake DynamoDB: unsupported condition ${input.ConditionExpression}`);
    }
    if (!holds) {
      throw new ConditionalCheckFailedException({
        message: 'The conditional request failed',
        $metadata: { httpStatusCode: 400 },
        ...(input.ReturnValuesOnConditionCheckFailure === 'ALL_OLD' && old ? { Item: clone(old) } : {}),
      });
    }
    const update = input.UpdateExpression ?? '';
    if (update === 'SET tat = tat + :interval, expiresAt = :expires') {
      item.tat = { N: String((num(item.tat) ?? 0) + (v(':interval') ?? 0)) };
      item.expiresAt = values[':expires'] as AttributeValue;
    } else if (update === 'SET tat = :next, expiresAt = :expires') {
      item.tat = values[':next'] as AttributeValue;
      item.expiresAt = values[':expires'] as AttributeValue;
    } else if (update === 'SET slots.#job = :lease') {
      (slots() as Item)[job] = values[':lease'] as AttributeValue;
    } else if (update === 'SET slots = if_not_exists(slots, :empty)') {
      item.slots ??= values[':empty'] as AttributeValue;
    } else if (update === 'REMOVE slots.#job') {
      delete (slots() as Item)[job];
    } else if (/^REMOVE slots\.#e0(, slots\.#e\d+)*$/.test(update)) {
      for (const id of Object.values(names)) delete slots()?.[id];
    } else {
      throw new Error(`fake DynamoDB: unsupported update ${update}`);
    }
    this.items.set(pk, item);
    const returned =
      input.ReturnValues === 'UPDATED_NEW'
        ? { tat: item.tat }
        : input.ReturnValues === 'ALL_NEW'
          ? item
          : undefined;
    return returned ? { Attributes: clone(returned) } : {};
  }
}
