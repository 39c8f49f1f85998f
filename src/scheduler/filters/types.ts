export type { FilterPlugin } from '../framework.ts';
