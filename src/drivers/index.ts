export type { DriverMeta, FunctionDriver } from './driver.js';
export { DriverInputError, checkInputSize } from './driver.js';
export { FactorialDriver, FibonacciDriver, Crc32Driver, Sha256Driver, factorialU64, fibonacciU64, MAX_N } from './software.js';
export { type DriverFamily, createDriver, driverNames, hasDriver, registerDriverFamily } from './registry.js';
