// STUB — to be implemented by the storage owner. See docs/ARCHITECTURE.md.
export class Overlay2 {
  constructor(readonly root: string) {}
  async init(): Promise<void> {}
}
