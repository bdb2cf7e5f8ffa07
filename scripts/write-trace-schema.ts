/** Writes schemas/trace-v1.schema.json from src/paper/trace-format.ts (`npm run schemas`). */
import { writeFileSync } from 'node:fs';
import { traceJsonSchemaText } from '../src/paper/trace-format.js';

writeFileSync(new URL('../schemas/trace-v1.schema.json', import.meta.url), traceJsonSchemaText());
