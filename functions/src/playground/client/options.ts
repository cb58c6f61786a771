/**
 * The settings form, built from the API's own `CreateJobRequest` schema in `/openapi.json`: a
 * control appears for each parameter of {@link CONTROLS} the deployment offers, typed by its
 * schema (enum: select, boolean: checkbox, number: number field with the schema's range). To
 * offer a new API parameter here, add one line to {@link CONTROLS}.
 */
import { el } from './dom.js';

/** A parameter the page offers, by its path in the request body. */
export interface ControlSpec {
  path: string[];
  label: string;
  help?: string;
}

export const CONTROLS: readonly ControlSpec[] = [
  { path: ['preset'], label: 'Preset', help: 'How much degradation DR2 removes (auto picks per face).' },
  {
    path: ['fidelity'],
    label: 'Fidelity',
    help: 'With preset auto: 0 leans on the face prior, 1 stays close to your photo.',
  },
  { path: ['upscale'], label: 'Upscale', help: 'Output size as a multiple of the input.' },
  { path: ['maxFaces'], label: 'Most faces', help: 'Largest faces first.' },
  {
    path: ['background'],
    label: 'Background',
    help: 'denoise cleans a noisy photo around its faces; keep only enlarges it.',
  },
  { path: ['aligned'], label: 'Aligned face crop (skip face detection)' },
  { path: ['output', 'format'], label: 'Output format' },
  { path: ['output', 'keepDr2'], label: 'Also keep the DR2 intermediate' },
];

/** The subset of JSON Schema the form reads. */
export interface JsonSchema {
  $ref?: string;
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  description?: string;
  properties?: Record<string, JsonSchema>;
}

/** How one control reads its value; undefined means "leave it to the API's default". */
interface Control {
  path: string[];
  read(): unknown;
  /** What is wrong with the value entered, if anything (OptionsForm.outOfRange). */
  check?(): string | undefined;
}

/** The form's state: call {@link OptionsForm.body} to build the request body. */
export interface OptionsForm {
  body(): Record<string, unknown>;
  /**
   * What is wrong with the first setting outside its range (the form is `novalidate`: the
   * browser lets it through), that control focused; undefined when all are within range.
   */
  outOfRange(): string | undefined;
  /** Labels of the parameters shown (for tests and the page). */
  shown: string[];
}

type Components = Record<string, JsonSchema>;

function resolve(schema: JsonSchema | undefined, components: Components): JsonSchema | undefined {
  let current = schema;
  for (let depth = 0; current?.$ref && depth < 10; depth += 1) {
    current = components[current.$ref.replace('#/components/schemas/', '')];
  }
  return current;
}

/** The schema at `path` inside the request schema, with references and optional wrappers resolved. */
export function schemaAt(root: JsonSchema, path: string[], components: Components): JsonSchema | undefined {
  let current = resolve(root, components);
  for (const segment of path) {
    current = resolve(objectPart(current, components)?.properties?.[segment], components);
    if (!current) return undefined;
  }
  return current;
}

/** An object schema possibly wrapped in anyOf (e.g. nullable or defaulted). */
function objectPart(schema: JsonSchema | undefined, components: Components): JsonSchema | undefined {
  if (!schema) return undefined;
  if (schema.properties) return schema;
  for (const option of [...(schema.anyOf ?? []), ...(schema.oneOf ?? [])]) {
    const resolved = resolve(option, components);
    if (resolved?.properties) return resolved;
  }
  return undefined;
}

/** Allowed values of an enum-like schema (`enum`, or anyOf/oneOf of `const`s), else undefined. */
export function choicesOf(schema: JsonSchema): unknown[] | undefined {
  if (schema.enum) return schema.enum;
  const options = schema.anyOf ?? schema.oneOf;
  if (options?.every((option) => 'const' in option || option.enum)) {
    return options.flatMap((option) => ('const' in option ? [option.const] : (option.enum ?? [])));
  }
  return undefined;
}

function typeOf(schema: JsonSchema): string | undefined {
  return Array.isArray(schema.type) ? schema.type.find((type) => type !== 'null') : schema.type;
}

/**
 * Builds the controls into `container` from the OpenAPI document's `CreateJobRequest`.
 *
 * @example
 * ```ts
 * const form = buildOptionsForm(fieldset, await (await fetch('/openapi.json')).json());
 * await api.createJob(form.body());
 * ```
 */
export function buildOptionsForm(container: HTMLElement, openapi: unknown): OptionsForm {
  const components =
    (openapi as { components?: { schemas?: Components } }).components?.schemas ?? ({} as Components);
  const root = components.CreateJobRequest ?? {};
  const controls: Control[] = [];
  const shown: string[] = [];
  for (const spec of CONTROLS) {
    const schema = schemaAt(root, spec.path, components);
    if (!schema) continue;
    const control = renderControl(container, spec, schema);
    if (control) {
      controls.push(control);
      shown.push(spec.label);
    }
  }
  return {
    shown,
    outOfRange() {
      for (const control of controls) {
        const problem = control.check?.();
        if (problem) return problem;
      }
      return undefined;
    },
    body() {
      const body: Record<string, unknown> = {};
      for (const control of controls) {
        const value = control.read();
        if (value === undefined) continue;
        let target = body;
        for (const segment of control.path.slice(0, -1)) {
          target = (target[segment] ??= {}) as Record<string, unknown>;
        }
        target[control.path[control.path.length - 1] ?? ''] = value;
      }
      return body;
    },
  };
}

function renderControl(container: HTMLElement, spec: ControlSpec, schema: JsonSchema): Control | undefined {
  const id = `option-${spec.path.join('-')}`;
  const helpId = `${id}-help`;
  const help = spec.help ?? schema.description;
  const helpNode = help ? [el('span', { id: helpId, className: 'help', textContent: help })] : [];
  const choices = choicesOf(schema);
  const type = typeOf(schema);
  if (choices) {
    const select = el('select', { id, name: id });
    if (schema.default === undefined) select.append(el('option', { value: '', textContent: 'default' }));
    for (const choice of choices) {
      select.append(
        el('option', {
          value: JSON.stringify(choice),
          textContent: String(choice),
          selected: choice === schema.default,
        }),
      );
    }
    if (help) select.setAttribute('aria-describedby', helpId);
    container.append(
      el('div', { className: 'field' }, [
        el('label', { htmlFor: id, textContent: spec.label }),
        select,
        ...helpNode,
      ]),
    );
    return {
      path: spec.path,
      read: () => (select.value === '' ? undefined : (JSON.parse(select.value) as unknown)),
    };
  }
  if (type === 'boolean') {
    const input = el('input', { id, name: id, type: 'checkbox', checked: schema.default === true });
    if (help) input.setAttribute('aria-describedby', helpId);
    container.append(
      el('div', { className: 'field check' }, [
        input,
        el('label', { htmlFor: id, textContent: spec.label }),
        ...helpNode,
      ]),
    );
    return {
      path: spec.path,
      read: () => (input.checked === (schema.default === true) ? undefined : input.checked),
    };
  }
  if (type === 'number' || type === 'integer') {
    const min = schema.minimum ?? schema.exclusiveMinimum;
    const max = schema.maximum ?? schema.exclusiveMaximum;
    const input = el('input', {
      id,
      name: id,
      type: 'number',
      inputMode: type === 'integer' ? 'numeric' : 'decimal',
    });
    input.step =
      type === 'integer' ? '1' : min !== undefined && max !== undefined ? String((max - min) / 20) : 'any';
    if (min !== undefined) input.min = String(min);
    if (max !== undefined) input.max = String(max);
    input.placeholder = schema.default === undefined ? 'default' : String(schema.default);
    if (help) input.setAttribute('aria-describedby', helpId);
    container.append(
      el('div', { className: 'field' }, [
        el('label', { htmlFor: id, textContent: spec.label }),
        input,
        ...helpNode,
      ]),
    );
    return {
      path: spec.path,
      read: () => (input.value === '' ? undefined : Number(input.value)),
      check: () => {
        const validity = input.validity;
        const wrong =
          validity.badInput ||
          validity.rangeUnderflow ||
          validity.rangeOverflow ||
          (type === 'integer' && validity.stepMismatch);
        if (!wrong) return undefined;
        input.focus();
        const range = `${type === 'integer' ? 'a whole number ' : ''}from ${min ?? 'any'} to ${max ?? 'any'}`;
        return `${spec.label} must be ${range}${validity.badInput ? '' : `, not ${input.value}`}.`;
      },
    };
  }
  return undefined;
}

/** sessionStorage key of the settings kept across a reload (see rememberSettings). */
export const SETTINGS_STORAGE = 'dr2e.settings';

/**
 * Keeps the settings form's values in `storage` (the tab's sessionStorage: a reload keeps them,
 * a new tab starts from the defaults) and puts back the ones kept: a reload no longer resets
 * settings the user chose. A kept value the form no longer offers (another deployment's
 * choices) is left out.
 *
 * @example
 * ```ts
 * const form = buildOptionsForm(fieldset, openapi);
 * rememberSettings(fieldset, sessionStorage);
 * ```
 */
export function rememberSettings(container: HTMLElement, storage: Storage): void {
  const fields = Array.from(
    container.querySelectorAll<HTMLInputElement | HTMLSelectElement>('input[id], select[id]'),
  );
  let kept: Record<string, unknown> = {};
  try {
    const parsed = JSON.parse(storage.getItem(SETTINGS_STORAGE) ?? '{}') as unknown;
    if (parsed && typeof parsed === 'object') kept = parsed as Record<string, unknown>;
  } catch {
    // A value this page did not write: start from the defaults.
  }
  for (const field of fields) {
    const value = kept[field.id];
    if (value === undefined) continue;
    if (field instanceof HTMLInputElement && field.type === 'checkbox') {
      if (typeof value === 'boolean') field.checked = value;
    } else if (field instanceof HTMLSelectElement) {
      if (Array.from(field.options).some((option) => option.value === value)) field.value = String(value);
    } else if (typeof value === 'string') {
      field.value = value;
    }
  }
  const save = () => {
    const values: Record<string, unknown> = {};
    for (const field of fields) {
      values[field.id] =
        field instanceof HTMLInputElement && field.type === 'checkbox' ? field.checked : field.value;
    }
    storage.setItem(SETTINGS_STORAGE, JSON.stringify(values));
  };
  container.addEventListener('change', save);
  container.addEventListener('input', save);
}
