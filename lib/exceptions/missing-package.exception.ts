/** Thrown at start-up when an option needs an optional package the application did not install. */
export class MissingPackageException extends Error {
  constructor(packageName: string, option: string) {
    super(`${option} needs the ${packageName} package, which is not installed. Install it: npm install ${packageName}`);
    this.name = 'MissingPackageException';
  }
}
