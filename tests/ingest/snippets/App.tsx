import React from "react";

export default function App({ title }: { title: string }) {
  return <h1>{title}</h1>;
}

export const Button = ({ label }: { label: string }) => <button>{label}</button>;
