/** Where a command writes; tests pass buffers. */
export interface Output {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

export const consoleOutput: Output = {
  stdout: (s) => process.stdout.write(`${s}\n`),
  stderr: (s) => process.stderr.write(`${s}\n`),
};
