// The daemon settings the network service reads, as plain values that
// daemon/ fills in (the network domain never imports daemon/).
export interface NetworkServiceOptions {
  /** Prefix of our iptables chains; its lower-cased form tags netns, bridge and veth names. */
  chainPrefix: string;
  /** The default bridge: interface name, --bip (gateway/prefix), --ipv6 and --fixed-cidr-v6. */
  bridge: string;
  bip: string;
  ipv6: boolean;
  fixedCidrV6?: string;
  /** Where an overlay namespace's holder is recorded (under `<execRoot>/netns-holders`); default /run/berth. */
  execRoot?: string;
}
